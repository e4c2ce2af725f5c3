/**
 * The concrete ApiExtensionRegistry the control plane builds once and hands to every
 * component (token routes, zone insights, the ADS status source, KDS write guards).
 */
import { UsageError } from '../../lib/errors';
import type { ApiExtensionRegistry, DataplaneStatus, DataplaneStatusProvider, ExtraRoute, WriteGuard } from './extension';

/** Status source used until the ADS server plugs in its own: nobody is connected. */
export const OFFLINE_STATUS_PROVIDER: DataplaneStatusProvider = {
  status: (): DataplaneStatus => ({ online: false, subscriptions: [] }),
};

/** Holds extra routes, write guards and the dataplane status provider. */
export class ApiExtensions implements ApiExtensionRegistry {
  readonly routes: ExtraRoute[] = [];
  readonly guards: WriteGuard[] = [];
  statusProvider: DataplaneStatusProvider = OFFLINE_STATUS_PROVIDER;

  addRoute(route: ExtraRoute): void {
    if (!route.path.startsWith('/')) throw new UsageError(`extra route path must start with "/", got ${JSON.stringify(route.path)}`);
    if (this.routes.some((r) => r.method === route.method && r.path === route.path)) {
      throw new UsageError(`extra route ${route.method} ${route.path} is registered twice`);
    }
    this.routes.push(route);
  }

  addWriteGuard(guard: WriteGuard): void {
    this.guards.push(guard);
  }

  setDataplaneStatusProvider(provider: DataplaneStatusProvider): void {
    this.statusProvider = provider;
  }
}
