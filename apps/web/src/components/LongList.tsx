/**
 * Lists the API answers whole — databases, members, API tokens, certificates, users, platform
 * tokens: no paging there — at the size a big tenant reaches (2,000 databases, hundreds of
 * members). Rendering all of them at once froze a phone for seconds (2,000 database rows: 36,000
 * elements, the first row after 5.6 s), so a list shows its first ROWS_STEP matches and *Show
 * more* adds the next. The filter searches every item the API returned (all of them), not just
 * the rows shown, and the line under the list says how many match and how many are shown.
 */
import { Button, CloseButton, Group, Text, TextInput } from '@mantine/core';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { useState, type ReactNode } from 'react';
import { EmptyState } from './QueryState';

export const ROWS_STEP = 100;

/** A noun's two forms, for the lines that count it. */
export type Noun = readonly [one: string, many: string];
const count = (n: number, [one, many]: Noun) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** Case-insensitive substring match of `q` in any of an item's texts; an empty `q` matches all. */
export function matches(q: string, texts: Array<string | null | undefined>): boolean {
  const needle = q.trim().toLowerCase();
  return !needle || texts.some((t) => !!t && t.toLowerCase().includes(needle));
}

export interface LongList<T> {
  /** The rows to render: the first `shown` of the matching items. */
  rows: T[];
  /** Items matching the filter (all of them, not only those shown). */
  matching: number;
  /** Items the API returned. */
  total: number;
  q: string;
  /** Show the next ROWS_STEP; undefined when every match is shown. */
  more?: () => void;
}

/**
 * The matching items of `items`, the first ROWS_STEP of them at first; a new filter starts
 * again from the first step.
 */
export function useLongList<T>(items: T[], q: string, texts: (item: T) => Array<string | null | undefined>): LongList<T> {
  const [limit, setLimit] = useState({ q, n: ROWS_STEP });
  // A new filter: back to the first step (state adjusted while rendering, not in an effect,
  // so the longer list is never rendered once for nothing).
  if (limit.q !== q) setLimit({ q, n: ROWS_STEP });
  const n = limit.q === q ? limit.n : ROWS_STEP;
  const all = q.trim() ? items.filter((i) => matches(q, texts(i))) : items;
  return {
    rows: all.length > n ? all.slice(0, n) : all,
    matching: all.length,
    total: items.length,
    q,
    more: all.length > n ? () => setLimit({ q, n: n + ROWS_STEP }) : undefined,
  };
}

/** The filter's text, kept in the URL (`?q=`, router.tsx `filterSearch`) so a filtered list can be linked and reloaded. */
export function useFilterParam(): [string, (q: string) => void] {
  const search: { q?: string } = useSearch({ strict: false });
  const navigate = useNavigate();
  return [
    search.q ?? '',
    (q) =>
      void navigate({
        to: '.',
        search: ((prev: Record<string, unknown>) => ({
          ...prev,
          q: q || undefined,
        })) as never,
        replace: true,
      }),
  ];
}

export function ListFilter({ label, placeholder, value, onChange }: { label: string; placeholder: string; value: string; onChange: (q: string) => void }) {
  return (
    <TextInput
      aria-label={label}
      placeholder={placeholder}
      value={value}
      onChange={(e) => onChange(e.currentTarget.value)}
      maw={360}
      rightSectionPointerEvents="all"
      rightSection={value ? <CloseButton aria-label="Clear filter" size="sm" onClick={() => onChange('')} /> : null}
    />
  );
}

/** Nothing matches the filter (though the list has items): says so, with a way back. */
export function NoMatch({ list, noun, onClear }: { list: LongList<unknown>; noun: Noun; onClear: () => void }) {
  return (
    <EmptyState title={`No ${noun[1]} match “${list.q.trim()}”`}>
      <Text size="sm" c="dimmed">
        The filter looks for the text in every one of the {count(list.total, noun)}, ignoring case.
      </Text>
      <Button variant="light" size="xs" onClick={onClear}>
        Clear the filter
      </Button>
    </EmptyState>
  );
}

/** Under the list: how many match and are shown, and *Show more* while some are not. */
export function ShowMore({ list, noun }: { list: LongList<unknown>; noun: Noun }) {
  const { rows, matching, total, more } = list;
  if (matching === 0) return null;
  const text =
    matching === total
      ? rows.length < matching
        ? `${rows.length.toLocaleString('en-US')} of ${count(total, noun)} shown`
        : count(total, noun)
      : `${count(matching, noun)} of ${total.toLocaleString('en-US')} ${matching === 1 ? 'matches' : 'match'}${rows.length < matching ? `, ${rows.length.toLocaleString('en-US')} shown` : ''}`;
  return (
    <Group justify="space-between" gap="xs">
      <Text size="sm" c="dimmed" role="status">
        {text}
      </Text>
      {more && (
        <Button variant="light" onClick={more}>
          Show {Math.min(ROWS_STEP, matching - rows.length)} more
        </Button>
      )}
    </Group>
  );
}

/**
 * A list page's filter, its rows (`children` renders the table or cards of the rows to show),
 * the empty state when nothing matches, and the count with *Show more* under it. `filter` is
 * the filter's text and setter (useFilterParam: in the URL).
 */
export function FilteredList<T>({
  items,
  texts,
  noun,
  label,
  placeholder,
  filter: [q, setQ],
  children,
}: {
  items: T[];
  /** What the filter looks in, per item. */
  texts: (item: T) => Array<string | null | undefined>;
  noun: Noun;
  label: string;
  placeholder: string;
  filter: readonly [string, (q: string) => void];
  children: (rows: T[]) => ReactNode;
}) {
  const list = useLongList(items, q, texts);
  return (
    <>
      <ListFilter label={label} placeholder={placeholder} value={q} onChange={setQ} />
      {list.matching === 0 ? <NoMatch list={list} noun={noun} onClear={() => setQ('')} /> : children(list.rows)}
      <ShowMore list={list} noun={noun} />
    </>
  );
}
