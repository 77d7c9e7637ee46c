export type Proto = 'tcp' | 'udp';

/** One published port: hostIp:hostPort -> containerPort/proto (hostIp '' = every host address). */
export interface PortMapping {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  proto: Proto;
}
