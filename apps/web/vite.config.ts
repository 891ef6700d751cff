import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  server: {
    // `npm run dev -w @switchyard/web` proxies API calls to the local API.
    proxy: { '/api': 'http://127.0.0.1:8480', '/docs': 'http://127.0.0.1:8480' },
  },
  build: { outDir: 'dist', emptyOutDir: true },
});
