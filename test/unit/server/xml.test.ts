import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {setFlagsFromString} from 'node:v8'
import {runInNewContext} from 'node:vm'

import {Element, detached, hasContent, x} from '../../../src/xml/element.js'
import {type ParserEvent, XmppStreamParser, parseElement} from '../../../src/xml/parser.js'

const HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"

function feed(parser: XmppStreamParser, ...chunks: Array<string | Buffer>): ParserEvent[] {
  return chunks.flatMap((chunk) => parser.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk))
}

function errorOf(events: ParserEvent[]): string | undefined {
  const error = events.find((event) => event.type === 'error')
  return error?.type === 'error' ? error.condition : undefined
}

/** V8's full garbage collection, without starting node with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}

describe('XMPP stream parser', () => {
  it('holds nothing of a stanza once write() has returned it: an idle stream keeps none of what it last received', async () => {
    const parser = new XmppStreamParser()
    parser.write(Buffer.from(HEADER))
    // Only the WeakRef leaves this function: what still holds the stanza afterwards is the parser.
    const written = (): WeakRef<object> => {
      const events = parser.write(Buffer.from(`<message><body>${'x'.repeat(100_000)}</body></message>`))
      assert.equal(events[0]?.type, 'stanza')
      return new WeakRef(events[0].type === 'stanza' ? events[0].element : {})
    }

    const stanza = written()
    // A WeakRef keeps its target until the end of the job that made it.
    await new Promise((resolve) => setImmediate(resolve))
    collectGarbage()
    assert.equal(stanza.deref(), undefined)
    assert.deepEqual(
      parser.write(Buffer.from('<presence/>')).map((event) => event.type),
      ['stanza'],
    )
  })

  it('yields the stream header, then each top-level stanza as an element tree', () => {
    const parser = new XmppStreamParser()
    const events = feed(parser, HEADER, "<message to='bob@localhost' type='chat'><body>hi &amp; &lt;bye&gt; &#x263A;</body></message><presence/>")
    assert.equal(events[0].type, 'stream-start')
    if (events[0].type !== 'stream-start') return
    assert.equal(events[0].header.local, 'stream')
    assert.equal(events[0].header.ns, 'http://etherx.jabber.org/streams')
    assert.equal(events[0].header.declarations[''], 'jabber:client')
    assert.equal(events[0].header.attrs.to, 'localhost')
    const stanzas = events.filter((event) => event.type === 'stanza').map((event) => (event.type === 'stanza' ? event.element : undefined)!)
    assert.equal(stanzas.length, 2)
    assert.equal(stanzas[0].name, 'message')
    assert.equal(stanzas[0].ns, 'jabber:client')
    assert.equal(stanzas[0].getChildText('body'), 'hi & <bye> ☺')
    assert.equal(stanzas[0].toString('jabber:client'), "<message to='bob@localhost' type='chat'><body>hi &amp; &lt;bye&gt; ☺</body></message>")
    assert.deepEqual(feed(parser, '</stream:stream>'), [{type: 'stream-end'}])
  })

  it('resolves namespaces and writes xmlns only where it changes', () => {
    const parser = new XmppStreamParser()
    const events = feed(parser, HEADER, "<iq type='get' id='1'><q:query xmlns:q='jabber:iq:roster'/></iq>")
    const stanza = events.find((event) => event.type === 'stanza')
    assert.ok(stanza?.type === 'stanza')
    assert.equal(stanza.element.elements()[0].ns, 'jabber:iq:roster')
    assert.equal(stanza.element.toString('jabber:client'), "<iq type='get' id='1'><query xmlns='jabber:iq:roster' xmlns:q='jabber:iq:roster'/></iq>")
  })

  it('escapes text and attribute values when serialising', () => {
    const element = x('message', 'jabber:client', {to: `a'b"c<&>\n`}, x('body', 'jabber:client', {}, '<script>&amp;'))
    assert.equal(element.toString('jabber:client'), "<message to='a&apos;b&quot;c&lt;&amp;&gt;&#10;'><body>&lt;script&gt;&amp;amp;</body></message>")
    const parser = new XmppStreamParser()
    const events = feed(parser, HEADER, element.toString('jabber:client'))
    const stanza = events.find((event) => event.type === 'stanza')
    assert.ok(stanza?.type === 'stanza')
    assert.equal(stanza.element.attrs.to, `a'b"c<&>\n`)
    assert.equal(stanza.element.getChildText('body'), '<script>&amp;')
  })

  it('assembles stanzas split at every byte, multi-byte characters included', () => {
    const input = Buffer.from(`${HEADER}<message to='b@localhost'><body>žluťoučký 🐎 &amp;</body></message>  <presence/>`)
    for (let cut = 1; cut < input.length; cut++) {
      const parser = new XmppStreamParser()
      const events = feed(parser, input.subarray(0, cut), input.subarray(cut))
      assert.equal(errorOf(events), undefined, `cut at ${cut}`)
      const stanzas = events.filter((event) => event.type === 'stanza')
      assert.equal(stanzas.length, 2, `cut at ${cut}`)
      assert.ok(stanzas[0].type === 'stanza' && stanzas[0].element.getChildText('body') === 'žluťoučký 🐎 &')
    }

    const parser = new XmppStreamParser()
    const events = [...input].flatMap((byte) => parser.write(Buffer.from([byte])))
    assert.equal(events.filter((event) => event.type === 'stanza').length, 2)
  })

  it('yields nothing for a half-written stanza until it is complete', () => {
    const parser = new XmppStreamParser()
    feed(parser, HEADER)
    assert.deepEqual(feed(parser, "<message><body>hal"), [])
    assert.deepEqual(feed(parser, 'f</body>'), [])
    assert.equal(feed(parser, '</message>')[0].type, 'stanza')
  })

  it('refuses billion laughs (a DTD with nested entities) with restricted-xml', () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({length: 9}, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('')}]><lolz>&lol9;</lolz>`
    const parser = new XmppStreamParser()
    assert.equal(errorOf(feed(parser, laughs)), 'restricted-xml')
    assert.ok(parser.dead)
    assert.deepEqual(feed(parser, '<presence/>'), [])
  })

  it('refuses quadratic blow-up: an undefined entity referenced many times', () => {
    const parser = new XmppStreamParser()
    const events = feed(parser, HEADER, `<message><body>${'&a;'.repeat(100_000)}</body></message>`)
    assert.equal(errorOf(events), 'restricted-xml')
  })

  it('refuses comments and processing instructions with restricted-xml', () => {
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, '<!-- hi --><presence/>')), 'restricted-xml')
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, '<?foo bar?><presence/>')), 'restricted-xml')
  })

  it('refuses 10,000-deep nesting with policy-violation, without building it', () => {
    const parser = new XmppStreamParser()
    const events = feed(parser, HEADER, '<message>' + '<a>'.repeat(10_000))
    assert.equal(errorOf(events), 'policy-violation')
  })

  it('accepts nesting up to the limit', () => {
    const parser = new XmppStreamParser({maxDepth: 5})
    const events = feed(parser, HEADER, '<a><b><c><d><e/></d></c></b></a>')
    assert.equal(errorOf(events), undefined)
    assert.equal(errorOf(feed(new XmppStreamParser({maxDepth: 5}), HEADER, '<a><b><c><d><e><f/></e></d></c></b></a>')), 'policy-violation')
  })

  it('refuses a 10 MB attribute with policy-violation after reading at most a little over the limit', () => {
    const parser = new XmppStreamParser()
    feed(parser, HEADER)
    const chunk = Buffer.from('x'.repeat(64 * 1024))
    let events = feed(parser, "<message to='")
    let fed = 0
    while (!parser.dead && fed < 10 * 1024 * 1024) {
      events = events.concat(parser.write(chunk))
      fed += chunk.length
    }

    assert.equal(errorOf(events), 'policy-violation')
    assert.ok(fed <= 256 * 1024 + chunk.length, `fed ${fed} bytes before refusing`)
  })

  it('refuses a 10 MB attribute in one write, and keeps memory bounded', () => {
    const before = process.memoryUsage().heapUsed
    const parser = new XmppStreamParser()
    const events = feed(parser, HEADER, Buffer.from(`<message to='${'x'.repeat(10 * 1024 * 1024)}'/>`))
    assert.equal(errorOf(events), 'policy-violation')
    assert.ok(process.memoryUsage().heapUsed - before < 64 * 1024 * 1024)
  })

  it('counts the stanza size per stanza, so many small stanzas are fine', () => {
    const parser = new XmppStreamParser({maxStanzaBytes: 1024})
    feed(parser, HEADER)
    const stanza = `<message><body>${'y'.repeat(500)}</body></message>\n`
    const events = feed(parser, stanza.repeat(2000))
    assert.equal(errorOf(events), undefined)
    assert.equal(events.length, 2000)
    assert.equal(errorOf(feed(parser, `<message><body>${'y'.repeat(1100)}</body></message>`)), 'policy-violation')
  })

  it('refuses invalid UTF-8 with not-well-formed', () => {
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0xfe, 0x3c]))), 'not-well-formed')
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, Buffer.from([0x3c, 0x61, 0x3e, 0xc0, 0xaf]))), 'not-well-formed')
  })

  it('refuses XML that is not well-formed and text between stanzas', () => {
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, '<a></b>')), 'not-well-formed')
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, '<a x="1" x="2"/>')), 'not-well-formed')
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, 'hello<presence/>')), 'not-well-formed')
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, '<p:a/>')), 'not-well-formed')
  })

  it('refuses a declared encoding other than UTF-8', () => {
    assert.equal(errorOf(feed(new XmppStreamParser(), "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>")), 'unsupported-encoding')
  })

  it('clones deeply', () => {
    const element = new Element('a', 'n', {k: 'v'}, [new Element('b', 'n'), 'text'])
    const copy = element.clone()
    copy.attrs.k = 'w'
    ;(copy.children[0] as Element).attrs.z = '1'
    assert.equal(element.toString('n'), "<a k='v'><b/>text</a>")
  })

  it('declares on the stanza a prefix its attributes take from the stream header', () => {
    const parser = new XmppStreamParser()
    const events = feed(parser, HEADER.replace(/>$/, " xmlns:x='urn:x'>"), "<message x:a='1'><x:y><z x:b='2'/></x:y><w xmlns:x='urn:other' x:c='3'/></message>")
    const stanza = events.find((event) => event.type === 'stanza')
    assert.ok(stanza?.type === 'stanza')
    assert.equal(
      stanza.element.toString('jabber:client'),
      "<message x:a='1' xmlns:x='urn:x'><y xmlns='urn:x'><z xmlns='jabber:client' x:b='2'/></y><w xmlns:x='urn:other' x:c='3'/></message>",
    )
  })

  it('parses XML 1.0 whatever the declaration says: control characters by reference are refused', () => {
    const header11 = HEADER.replace("version='1.0'?>", "version='1.1'?>")
    assert.equal(errorOf(feed(new XmppStreamParser(), header11, '<message><body>a&#x1;b</body></message>')), 'not-well-formed')
    assert.equal(errorOf(feed(new XmppStreamParser(), header11, "<message a='&#x1;'/>")), 'not-well-formed')
  })

  it('refuses text between stanzas as soon as it arrives, and a stream header where a stanza belongs', () => {
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, 'hello')), 'not-well-formed')
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, '  \n ')), undefined)
    assert.equal(errorOf(feed(new XmppStreamParser(), HEADER, HEADER.replace("<?xml version='1.0'?>", ''))), 'invalid-xml')
  })

  it('writes characters XML 1.0 does not allow as U+FFFD, in text and attributes', () => {
    const element = x('message', 'jabber:client', {id: 'a\u0001b\uffff'}, x('body', 'jabber:client', {}, 'c\u0000d\u001fe\ud800f\u{1F600}'))
    assert.equal(element.toString('jabber:client'), "<message id='a\ufffdb\ufffd'><body>c\ufffdd\ufffde\ufffdf\u{1F600}</body></message>")
  })

  it('parses one stored element back, and nothing else: two elements, text, a fragment, a DTD', () => {
    const stored = "<storage xmlns='storage:bookmarks'><conference jid='a@b' autojoin='true'><nick>&lt;a&gt;</nick></conference></storage>"
    assert.equal(parseElement(stored)?.toString(), stored)
    // A stream header's name is an ordinary element's below a stanza.
    assert.equal(parseElement("<stream xmlns='http://etherx.jabber.org/streams'/>")?.toString(), "<stream xmlns='http://etherx.jabber.org/streams'/>")
    for (const text of ["<a xmlns='x'/><b xmlns='x'/>", 'text', "<a xmlns='x'>", '', "<!DOCTYPE a><a xmlns='x'/>", "<a xmlns='x'/></stored><b xmlns='x'/>"]) assert.equal(parseElement(text), undefined, text)
  })

  it('detaches an element with the prefix declarations it takes from its ancestors', () => {
    const parser = new XmppStreamParser()
    const events = feed(parser, HEADER, "<iq xmlns:a='urn:a' xmlns:b='urn:outer'><query xmlns='q' xmlns:b='urn:b' xmlns:c='urn:c'><item xmlns='i' a:x='1'><sub b:y='2' xmlns:c='urn:own' c:z='3'/></item></query></iq>")
    const stanza = events.find((event) => event.type === 'stanza')
    assert.ok(stanza?.type === 'stanza')
    const query = stanza.element.elements()[0]
    const item = detached(query.elements()[0], [query, stanza.element])
    assert.equal(item.toString(), "<item xmlns='i' a:x='1' xmlns:a='urn:a' xmlns:b='urn:b'><sub b:y='2' xmlns:c='urn:own' c:z='3'/></item>")
    assert.equal(parseElement(item.toString())?.toString(), item.toString())
  })

  it('counts an element with only whitespace or prefix declarations as empty', () => {
    assert.equal(hasContent(new Element('v', 'x', {'xmlns:a': 'urn:a'}, [' \n '])), false)
    assert.equal(hasContent(new Element('v', 'x', {version: '2.0'})), true)
    assert.equal(hasContent(new Element('v', 'x', {}, ['t'])), true)
    assert.equal(hasContent(x('v', 'x', {}, x('w', 'x'))), true)
  })
})
