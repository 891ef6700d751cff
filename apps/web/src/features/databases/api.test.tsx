import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, renderHook } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { acmeKeys, certKeys } from '../certificates/api';
import { useChangeAccess } from './api';

afterEach(() => vi.unstubAllGlobals());

describe('useChangeAccess', () => {
  it('marks the certificate and ACME lists stale: a route change may end its ACME request or retire a certificate', async () => {
    const puts: string[] = [];
    vi.stubGlobal('fetch', async (input: Request) => {
      puts.push(`${input.method} ${new URL(input.url).pathname}`);
      return new Response(JSON.stringify({ enabled: true, hostname: 'orders.demo.example.com', version: 2 }), { status: 200, headers: { 'content-type': 'application/json' } });
    });
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    qc.setQueryData(acmeKeys.list('demo'), { items: [] });
    qc.setQueryData(certKeys.list('demo'), { items: [] });
    qc.setQueryData(['tenants', 'other', 'acme-certificates'], { items: [] });
    const wrapper = ({ children }: { children: ReactNode }) => <QueryClientProvider client={qc}>{children}</QueryClientProvider>;
    const { result } = renderHook(() => useChangeAccess('demo', 'orders'), { wrapper });
    await act(() => result.current.mutateAsync({ enabled: true, certificateId: null }));
    expect(puts).toEqual(['PUT /api/v1/tenants/demo/databases/orders/external-access']);
    expect(qc.getQueryState(acmeKeys.list('demo'))?.isInvalidated).toBe(true);
    expect(qc.getQueryState(certKeys.list('demo'))?.isInvalidated).toBe(true);
    // Another tenant's lists are not this change's business.
    expect(qc.getQueryState(['tenants', 'other', 'acme-certificates'])?.isInvalidated).toBe(false);
  });
});
