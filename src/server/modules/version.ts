/** mod_version: software version (XEP-0092) of the server; the operating system only with `show_os`. */
import os from 'node:os'

import {NS} from '../../xml/namespaces.js'
import {iqResult} from '../stanza.js'
import {x} from '../../xml/element.js'
import type {ModuleContext, ServerModule} from './types.js'

export function createVersionModule(context: ModuleContext, options: {showOs: boolean}): ServerModule {
  return {
    name: 'mod_version',
    features: [NS.version],
    iq: [
      {
        ns: NS.version,
        name: 'query',
        types: ['get'],
        to: ['server'],
        remote: true,
        handle: ({sender, stanza, domain}) => {
          const query = x('query', NS.version, {}, x('name', NS.version, {}, 'xmppctl'), x('version', NS.version, {}, context.softwareVersion))
          if (options.showOs) query.append(x('os', NS.version, {}, `${os.type()} ${os.release()}`))
          sender.send(iqResult(stanza, domain, query))
        },
      },
    ],
  }
}
