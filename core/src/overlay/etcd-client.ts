/**
 * The etcd client library as one unit: npm etcd3 and the cockatiel policies it runs its calls
 * under. Only store-etcd.ts loads it, with a dynamic import when a store is opened; the bundles
 * (scripts/bundle.mjs) build it apart as etcd3.mjs beside each bundle, so commands that never
 * open a store do not load grpc-js and protobufjs.
 */
export { Etcd3, isRecoverableError } from 'etcd3';
export { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen } from 'cockatiel';
