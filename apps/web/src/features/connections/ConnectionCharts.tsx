/**
 * Charts from the stats endpoint: connections over time by outcome (drag across it to set
 * the time filter), bytes in and out, failures by reason, top client addresses.
 */
import { Group, Paper, Stack, Table, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ReferenceArea, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatBytes } from './filters';
import type { Stats } from './queries';

const labelTime = (v: unknown) => (typeof v === 'string' ? new Date(v).toLocaleString() : '');

const tick = (iso: string, spanMs: number) => {
  const d = new Date(iso);
  return spanMs > 2 * 86_400_000 ? d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) : d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
};

export function ConnectionCharts({ stats, onSelectSpan }: { stats: Stats; onSelectSpan: (from: string, to: string) => void }) {
  const [drag, setDrag] = useState<{ a: string; b: string } | null>(null);
  const spanMs = Date.parse(stats.to) - Date.parse(stats.from);
  const step = stats.buckets.length > 1 ? Date.parse(stats.buckets[1]!.start) - Date.parse(stats.buckets[0]!.start) : spanMs;
  const data = stats.buckets.map((b) => ({ start: b.start, ok: b.ok, failed: b.failures, bytesIn: b.bytesIn, bytesOut: b.bytesOut }));
  const total = stats.buckets.reduce((n, b) => n + b.connections, 0);
  const reasons = new Map<string, number>();
  for (const b of stats.buckets) for (const [r, n] of Object.entries(b.failuresByReason)) reasons.set(r, (reasons.get(r) ?? 0) + n);
  const finish = () => {
    if (drag && drag.a !== drag.b) {
      const [x, y] = [drag.a, drag.b].sort();
      onSelectSpan(x!, new Date(Date.parse(y!) + step).toISOString());
    }
    setDrag(null);
  };
  return (
    <Stack gap="sm">
      <Paper withBorder p="sm">
        <Group justify="space-between">
          <Title order={2} size="h4">
            Connections over time
          </Title>
          <Text size="sm" c="dimmed" data-testid="chart-total">
            {total} connections · drag across the chart to zoom the time filter
          </Text>
        </Group>
        <div role="img" aria-label={`Connections per ${stats.interval} by outcome: ${total} in total`} style={{ width: '100%', height: 200, userSelect: 'none' }}>
          <ResponsiveContainer>
            <BarChart
              data={data}
              onMouseDown={(e) => e?.activeLabel && setDrag({ a: String(e.activeLabel), b: String(e.activeLabel) })}
              onMouseMove={(e) => drag && e?.activeLabel && setDrag({ ...drag, b: String(e.activeLabel) })}
              onMouseUp={finish}
            >
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="start" tickFormatter={(v: string) => tick(v, spanMs)} minTickGap={24} />
              <YAxis allowDecimals={false} width={40} />
              <Tooltip labelFormatter={labelTime} />
              <Legend />
              <Bar dataKey="ok" stackId="c" name="ok" fill="#2f9e44" isAnimationActive={false} />
              <Bar dataKey="failed" stackId="c" name="refused / failed" fill="#e03131" isAnimationActive={false} />
              {drag && <ReferenceArea x1={drag.a} x2={drag.b} strokeOpacity={0.3} fill="#228be6" fillOpacity={0.2} />}
            </BarChart>
          </ResponsiveContainer>
        </div>
      </Paper>
      <Group grow align="stretch">
        <Paper withBorder p="sm">
          <Title order={2} size="h4">
            Bytes in and out
          </Title>
          <div role="img" aria-label="Bytes from and to clients per interval" style={{ width: '100%', height: 160 }}>
            <ResponsiveContainer>
              <LineChart data={data}>
                <CartesianGrid strokeDasharray="3 3" vertical={false} />
                <XAxis dataKey="start" tickFormatter={(v: string) => tick(v, spanMs)} minTickGap={24} />
                <YAxis tickFormatter={(v: number) => formatBytes(v)} width={70} />
                <Tooltip formatter={(v) => formatBytes(Number(v))} labelFormatter={labelTime} />
                <Legend />
                <Line dataKey="bytesIn" name="from clients" stroke="#1971c2" dot={false} isAnimationActive={false} />
                <Line dataKey="bytesOut" name="to clients" stroke="#f08c00" dot={false} isAnimationActive={false} />
              </LineChart>
            </ResponsiveContainer>
          </div>
        </Paper>
        <Paper withBorder p="sm">
          <Title order={2} size="h4">
            Failures by reason
          </Title>
          {reasons.size === 0 ? (
            <Text size="sm" c="dimmed">
              None in this span.
            </Text>
          ) : (
            <Table>
              <Table.Tbody>
                {[...reasons.entries()]
                  .sort((a, b) => b[1] - a[1])
                  .map(([r, n]) => (
                    <Table.Tr key={r}>
                      <Table.Td>
                        <code>{r}</code>
                      </Table.Td>
                      <Table.Td ta="right">{n}</Table.Td>
                    </Table.Tr>
                  ))}
              </Table.Tbody>
            </Table>
          )}
        </Paper>
        <Paper withBorder p="sm">
          <Title order={2} size="h4">
            Top client addresses
          </Title>
          {stats.topClientsSampled !== null && stats.topClients.length > 0 && (
            <Text size="sm" c="dimmed">
              Approximate: estimated from {formatShare(stats.topClientsSampled)} of the connections in this span (too many to count at once).
              Filter by a client address for exact counts.
            </Text>
          )}
          {stats.topClients.length === 0 ? (
            <Text size="sm" c="dimmed">
              None in this span.
            </Text>
          ) : (
            <Table>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Address</Table.Th>
                  <Table.Th ta="right">Connections</Table.Th>
                  <Table.Th ta="right">Failed</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {stats.topClients.map((c) => (
                  <Table.Tr key={c.clientAddress}>
                    <Table.Td>{c.clientAddress}</Table.Td>
                    <Table.Td ta="right">{stats.topClientsSampled !== null ? `≈ ${c.connections}` : c.connections}</Table.Td>
                    <Table.Td ta="right">{stats.topClientsSampled !== null ? `≈ ${c.failures}` : c.failures}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Paper>
      </Group>
    </Stack>
  );
}

/** A share as a percentage a person reads: 0.05 → "5 %", 0.004 → "0.4 %". */
function formatShare(share: number): string {
  const pct = share * 100;
  return `${pct >= 10 ? Math.round(pct) : pct >= 1 ? pct.toFixed(1).replace(/\.0$/, '') : pct.toFixed(2).replace(/0$/, '')} %`;
}
