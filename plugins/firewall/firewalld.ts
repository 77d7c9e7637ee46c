// The firewalld backend's records and D-Bus calls live in core (core/src/firewall/firewalld-sources.ts),
// so `tsnet firewall reload` and the watcher can put the sources back after a firewalld reload.
export { firewalldSourcesAdd as firewalldAdd, firewalldSourcesDel as firewalldDel, firewalldSourcesHas as firewalldHas, sourceOf } from '@tsnet/core/plugin';
