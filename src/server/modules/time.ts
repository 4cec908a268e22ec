/** mod_time: the server's entity time (XEP-0202), in UTC with the host's offset. */
import {NS} from '../../xml/namespaces.js'
import {iqResult} from '../stanza.js'
import {x} from '../../xml/element.js'
import type {ServerModule} from './types.js'

/** XEP-0082's time zone designator for an offset in minutes east of UTC: `+01:00`, `-05:30`, `+00:00`. */
export function timeZoneDesignator(minutesEast: number): string {
  const sign = minutesEast < 0 ? '-' : '+'
  const minutes = Math.abs(minutesEast)
  return `${sign}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`
}

export function createTimeModule(now: () => Date = () => new Date()): ServerModule {
  return {
    name: 'mod_time',
    features: [NS.time],
    iq: [
      {
        ns: NS.time,
        name: 'time',
        types: ['get'],
        to: ['server'],
        remote: true,
        handle: ({sender, stanza, domain}) => {
          const date = now()
          const time = x('time', NS.time, {}, x('tzo', NS.time, {}, timeZoneDesignator(-date.getTimezoneOffset())), x('utc', NS.time, {}, date.toISOString()))
          sender.send(iqResult(stanza, domain, time))
        },
      },
    ],
  }
}
