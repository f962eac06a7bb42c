// The --broker and --broker-* options of both binaries, apart from broker.ts
// so that cli/options.ts can declare them without loading the NATS client:
// a run on this machine never connects, and the client cost about 30 ms of
// CPU at every start.
/** The command-line options of both binaries for the broker; cli/options.ts adds them in one loop. */
export const BROKER_OPTION_SPECS: readonly { flags: string; description: string }[] = [
  {
    flags: '--broker <urls>',
    description:
      'NATS broker: nats://[USER:PASSWORD@|TOKEN@]HOST:PORT, or tls://… to require TLS; several comma-separated for a cluster',
  },
  {
    flags: '--broker-creds <file>',
    description: 'NATS credentials file (user JWT and nkey seed, from `nsc generate creds`)',
  },
  { flags: '--broker-nkey <file>', description: 'file holding the NATS user nkey seed (SU…)' },
  {
    flags: '--broker-tls-ca <file>',
    description: "PEM CA certificate(s) to trust for the broker's certificate",
  },
  {
    flags: '--broker-tls-cert <file>',
    description: 'PEM client certificate for brokers that verify clients (with --broker-tls-key)',
  },
  { flags: '--broker-tls-key <file>', description: 'PEM private key of --broker-tls-cert' },
];
