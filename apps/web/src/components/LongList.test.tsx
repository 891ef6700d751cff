/**
 * A long list (the API answers every item at once: 2,000 databases) renders its first 100
 * matches, *Show more* adds the next 100, the filter searches every item rather than the rows
 * shown, and a filter without a match says so with a way back.
 */
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import { renderUi } from '../test/render';
import { FilteredList, matches } from './LongList';

const ITEMS = Array.from({ length: 250 }, (_, i) => ({ id: i, name: `db-${String(i).padStart(4, '0')}`, host: i === 249 ? 'warehouse.internal' : 'pg.internal' }));

function Harness() {
  const filter = useState('');
  return (
    <FilteredList items={ITEMS} texts={(d) => [d.name, d.host]} noun={['database', 'databases']} label="Filter databases" placeholder="Name or host" filter={filter}>
      {(rows) => (
        <ul aria-label="Databases">
          {rows.map((d) => (
            <li key={d.id}>{d.name}</li>
          ))}
        </ul>
      )}
    </FilteredList>
  );
}

const shown = () => within(screen.getByRole('list', { name: 'Databases' })).getAllByRole('listitem').map((li) => li.textContent);

describe('FilteredList', () => {
  it('renders the first 100 items and adds 100 more at a time', async () => {
    renderUi(<Harness />);
    expect(shown()).toHaveLength(100);
    expect(screen.getByRole('status').textContent).toBe('100 of 250 databases shown');
    await userEvent.click(screen.getByRole('button', { name: 'Show 100 more' }));
    expect(shown()).toHaveLength(200);
    await userEvent.click(screen.getByRole('button', { name: 'Show 50 more' }));
    expect(shown()).toHaveLength(250);
    expect(screen.getByRole('status').textContent).toBe('250 databases');
    expect(screen.queryByRole('button', { name: /more/ })).toBeNull();
  });

  it('filters every item, not only the rows shown, and starts again from the first 100', async () => {
    renderUi(<Harness />);
    await userEvent.click(screen.getByRole('button', { name: 'Show 100 more' }));
    // db-0249 is past the rows shown; so is the one host that differs.
    await userEvent.type(screen.getByRole('textbox', { name: 'Filter databases' }), 'WAREHOUSE');
    expect(shown()).toEqual(['db-0249']);
    expect(screen.getByRole('status').textContent).toBe('1 database of 250 matches');
    await userEvent.clear(screen.getByRole('textbox', { name: 'Filter databases' }));
    await userEvent.type(screen.getByRole('textbox', { name: 'Filter databases' }), 'pg.internal');
    expect(shown()).toHaveLength(100);
    expect(screen.getByRole('status').textContent).toBe('249 databases of 250 match, 100 shown');
  });

  it('says when nothing matches, and clears the filter', async () => {
    renderUi(<Harness />);
    await userEvent.type(screen.getByRole('textbox', { name: 'Filter databases' }), 'mysql');
    expect(screen.queryByRole('list', { name: 'Databases' })).toBeNull();
    expect(screen.getByText('No databases match “mysql”')).toBeTruthy();
    expect(screen.queryByRole('status')).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Clear the filter' }));
    expect(shown()).toHaveLength(100);
    expect(screen.getByRole<HTMLInputElement>('textbox', { name: 'Filter databases' }).value).toBe('');
  });

  it('matches text case-insensitively, ignoring blanks around the filter and missing texts', () => {
    expect(matches('  Orders ', ['orders-db'])).toBe(true);
    expect(matches('x', [null, undefined, 'abc'])).toBe(false);
    expect(matches('', [])).toBe(true);
  });
});
