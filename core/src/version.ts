/** Set by the bundler (scripts/bundle.mjs): the package version and the commit it was built from. */
declare const __TSNET_VERSION__: string | undefined;

export const VERSION: string = typeof __TSNET_VERSION__ === 'string' ? __TSNET_VERSION__ : 'dev (unbundled)';
