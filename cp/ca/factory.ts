/** kuma-cp wiring of the mesh CA: standalone and global create every mesh's builtin CA (zones receive it over KDS). */
import type { ComponentFactory } from '../run';
import { BuiltinCaManager } from './builtin-ca-manager';
import { CaComponent } from './ca-component';

/** The CaComponent for modes that own CAs (standalone, global); nothing on a zone. */
export const caFactory: ComponentFactory = (ctx) => {
  if (ctx.config.mode === 'zone') return undefined;
  const log = ctx.log.child({ component: 'mesh-ca' });
  return new CaComponent({ store: ctx.store, ca: new BuiltinCaManager({ store: ctx.store, log }), log });
};
