import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The API the dev server forwards to: `npm run dev` sets it; 8480 is the API's default port.
const api = process.env.SWITCHYARD_API_URL ?? 'http://127.0.0.1:8480';

export default defineConfig({
  plugins: [react()],
  server: {
    // `npm run dev` (or `npm run dev -w @switchyard/web` beside a running API) proxies API calls.
    proxy: { '/api': api, '/docs': api },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Hashed file names: the API serves them with long cache lifetimes.
    chunkSizeWarningLimit: 600,
  },
});
