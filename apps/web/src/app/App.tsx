import { useEffect, useState } from 'react';

interface Meta {
  version: string;
  baseDomain: string;
  listeners: Array<{ name: string; protocol: string; port: number }>;
}

/** Placeholder until the dashboard pages land: shows what the API reports publicly. */
export function App() {
  const [meta, setMeta] = useState<Meta | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    fetch('/api/v1/meta')
      .then((r) => (r.ok ? (r.json() as Promise<Meta>) : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then(setMeta, (e: Error) => setError(e.message));
  }, []);
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '3rem auto', lineHeight: 1.5 }}>
      <h1>Switchyard</h1>
      <p>Tenant databases on one IP and a few shared ports, routed by TLS SNI.</p>
      {error && <p role="alert">API unreachable: {error}</p>}
      {meta && (
        <>
          <p>
            Version {meta.version}. Route hostnames: <code>&lt;database&gt;.&lt;tenant&gt;.{meta.baseDomain}</code>
          </p>
          <h2>Shared ports</h2>
          <ul>
            {meta.listeners.map((l) => (
              <li key={l.name}>
                <strong>{l.name}</strong> — port {l.port} ({l.protocol})
              </li>
            ))}
          </ul>
        </>
      )}
      <p>
        API reference: <a href="/docs">/docs</a>
      </p>
    </main>
  );
}
