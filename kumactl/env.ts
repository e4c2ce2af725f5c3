/** Environment variables kumactl reads (one place, as for every binary). */

/** Home directory: the default config file is `$HOME/.kumactl/config`. */
export const HOME = 'HOME';
