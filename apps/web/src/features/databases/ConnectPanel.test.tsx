import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import { renderUi } from '../../test/render';
import type { ExternalAccess } from './api';
import { ConnectPanel } from './ConnectPanel';
import { externalAccess } from './fixtures.test-data';

const host = 'orders.acme.db.example.com';
const base: ExternalAccess = externalAccess({
  connection: {
    primary: `postgresql://USER@${host}:5432/DBNAME?sslmode=verify-full&sslrootcert=DATABASE_CA.pem`,
    uri: `postgresql://USER@${host}:5432/DBNAME?sslmode=verify-full&sslrootcert=DATABASE_CA.pem`,
    psql: `psql "host=${host} port=5432 dbname=DBNAME user=USER sslmode=verify-full sslrootcert=DATABASE_CA.pem"`,
    jdbc: `jdbc:postgresql://${host}:5432/DBNAME?user=USER&ssl=true&sslmode=verify-full&sslrootcert=DATABASE_CA.pem`,
  },
  upstreamTls: true,
});

function Panel({ access = base }: { access?: ExternalAccess }) {
  const [client, setClient] = useState<string | undefined>();
  return <ConnectPanel engine="postgres" access={access} baseDomain="db.example.com" client={client} onClientChange={setClient} />;
}

describe('ConnectPanel', () => {
  it('shows a tab per client and fills what the user types into the strings', async () => {
    const user = userEvent.setup();
    renderUi(<Panel />);
    expect(screen.getAllByRole('tab').map((t) => t.textContent)).toEqual(['psql', 'URI', 'JDBC']);
    await user.type(screen.getByLabelText('Database user'), 'app');
    await user.type(screen.getByLabelText('Database name'), 'shop');
    expect(screen.getByTestId('conn-psql connection string')).toHaveTextContent(`psql "host=${host} port=5432 dbname=shop user=app sslmode=verify-full sslrootcert=DATABASE_CA.pem"`);
    await user.click(screen.getByRole('tab', { name: 'URI' }));
    expect(screen.getByTestId('conn-URI connection string')).toHaveTextContent(`postgresql://app:PASSWORD@${host}:5432/shop?`);
  });

  it('copies exactly the string shown, inside the click', async () => {
    const user = userEvent.setup();
    renderUi(<Panel />);
    await user.click(screen.getByRole('button', { name: 'Copy psql connection string' }));
    expect(await navigator.clipboard.readText()).toBe(screen.getByTestId('conn-psql connection string').textContent);
    expect(await screen.findByRole('button', { name: 'Copy psql connection string' })).toHaveTextContent('Copied');
  });

  it('offers the CA when the certificate is not publicly trusted, and the options for clients without SNI', () => {
    renderUi(
      <Panel
        access={{
          ...base,
          tlsMode: 'terminate',
          dedicatedPort: 20001,
          connection: { ...base.connection, dedicated: 'psql "host=203.0.113.1 port=20001 sslmode=require"' },
          ca: { fileName: 'switchyard-ca.pem', url: '/api/v1/pki/ca.pem', pem: '-----BEGIN CERTIFICATE-----' },
        }}
      />,
    );
    expect(screen.getByRole('link', { name: 'Download switchyard-ca.pem' })).toHaveAttribute('href', '/api/v1/pki/ca.pem');
    expect(screen.getByRole('tab', { name: 'Without SNI (dedicated port)' })).toBeInTheDocument();
    expect(screen.getByText('options=endpoint=orders.acme')).toBeInTheDocument();
    expect(screen.getByText(/sslmode:/)).toBeInTheDocument();
    // Right under the page's h1 (the database's name): level 2, no level skipped (axe heading-order).
    expect(screen.getByRole('heading', { name: 'Certificate authority' })).toHaveProperty('tagName', 'H2');
    expect(screen.getByRole('heading', { name: 'Clients without SNI' })).toHaveProperty('tagName', 'H2');
  });

  it('warns that the strings only work once access is on', () => {
    renderUi(<Panel access={{ ...base, enabled: false }} />);
    expect(screen.getByText('External access is off')).toBeInTheDocument();
  });
});
