/**
 * Upload a certificate chain and its key, or replace an uploaded one's: each validation error
 * of the API beside the field it is about (the chain, the key, the name), the rest in a toast.
 */
import { Button, Group, Stack, Textarea, TextInput } from '@mantine/core';
import { useForm } from '@mantine/form';
import { notifyDone, notifyError } from '../../components/notify';
import { splitApiError } from '../../lib/api/errors';
import { useReplaceCertificate, useUploadCertificate, type Certificate } from './api';

const PEM_STYLE = { input: { fontFamily: 'monospace', fontSize: 12 } };

/** Upload a new certificate, or replace an uploaded one's chain and key. */
export function ChainAndKeyForm({ tenant, replacing, onDone }: { tenant: string; replacing?: Certificate; onDone: () => void }) {
  const upload = useUploadCertificate(tenant);
  const replace = useReplaceCertificate(tenant);
  const form = useForm({
    initialValues: { name: '', certificatePem: '', privateKeyPem: '' },
    validate: {
      name: (v) => (replacing || /^[A-Za-z0-9][A-Za-z0-9 ._-]*$/.test(v) ? null : 'Letters, digits, spaces, dots, dashes and underscores'),
      certificatePem: (v) => (v.includes('-----BEGIN CERTIFICATE-----') ? null : 'Paste the PEM chain: the leaf first, then each intermediate'),
      privateKeyPem: (v) => (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(v) ? null : 'Paste the PEM private key of the leaf (unencrypted)'),
    },
  });
  const onError = (err: unknown) => {
    const split = splitApiError(err, (p) => ['name', 'certificatePem', 'privateKeyPem'].includes(p), {
      SY_CERTIFICATE_EXISTS: 'name',
      SY_CERTIFICATE_KEY_MISMATCH: 'privateKeyPem',
      SY_CERTIFICATE_KEY_INVALID: 'privateKeyPem',
      SY_CERTIFICATE_KEY_UNSUPPORTED: 'privateKeyPem',
      SY_CERTIFICATE_PEM_INVALID: 'certificatePem',
      SY_CERTIFICATE_CHAIN_ORDER: 'certificatePem',
      SY_CERTIFICATE_NOT_LEAF: 'certificatePem',
      SY_CERTIFICATE_NO_HOSTNAMES: 'certificatePem',
      SY_CERTIFICATE_EXPIRED: 'certificatePem',
      SY_CERTIFICATE_NOT_YET_VALID: 'certificatePem',
      // Replacing: the new chain does not cover a route using the certificate.
      SY_CERTIFICATE_HOSTNAME_MISMATCH: 'certificatePem',
    });
    form.setErrors(split.fields);
    if (split.rest.length) notifyError(err, replacing ? 'Replacing the certificate' : 'Uploading the certificate', split.rest);
  };
  const submit = form.onSubmit((v) => {
    const done = (c: Certificate) => {
      notifyDone(replacing ? `Replaced ${c.name}` : `Uploaded ${c.name}`);
      onDone();
    };
    if (replacing) replace.mutate({ id: replacing.id, body: { certificatePem: v.certificatePem, privateKeyPem: v.privateKeyPem } }, { onSuccess: (r) => done(r.certificate), onError });
    else upload.mutate(v, { onSuccess: done, onError });
  });
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        {!replacing && <TextInput label="Name" required data-autofocus {...form.getInputProps('name')} />}
        <Textarea label="Certificate chain (PEM)" description="The leaf first, then each intermediate" autosize minRows={4} maxRows={10} styles={PEM_STYLE} required {...form.getInputProps('certificatePem')} />
        <Textarea
          label="Private key (PEM)"
          description="Unencrypted; stored encrypted and never shown again"
          autosize
          minRows={4}
          maxRows={10}
          styles={PEM_STYLE}
          required
          autoComplete="off"
          spellCheck={false}
          {...form.getInputProps('privateKeyPem')}
        />
        <Group justify="flex-end">
          <Button type="submit" loading={upload.isPending || replace.isPending}>
            {replacing ? 'Replace' : 'Upload certificate'}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
