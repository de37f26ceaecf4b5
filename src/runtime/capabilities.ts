/** Docker's default capability set for containers (moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Paths hidden from the step (Docker's defaults). */
export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Paths the step may read but not write (Docker's defaults). */
export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Current hard limit of a resource from /proc/self/limits (never ask a runtime for more). */
export function currentHardLimit(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(name));
  if (!line) return undefined;
  const fields = line.slice(name.length).trim().split(/\s+/);
  const hard = fields[1];
  if (hard === undefined || hard === 'unlimited') return undefined;
  const n = Number(hard);
  return Number.isFinite(n) ? n : undefined;
}
