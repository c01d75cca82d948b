/**
 * The body of the compressed-hit cases: HTML-like text that compresses about as a real page
 * does (to under a third with Brotli 5), the same bytes in every process that builds it (a
 * seeded generator, no randomness), so the origin and the bare server agree on it.
 */

const WORDS = (
  'the cache edge origin request response header body stored fresh stale variant coding ' +
  'client server proxy worker store purge tag route backend miss hit revalidate vary ' +
  'content length type encoding gzip brotli zstd window level quality stream buffer ' +
  'page script style image link section article header footer nav main aside list item ' +
  'table row cell form input button label select option value name class id data'
).split(' ')
const TAGS = ['p', 'li', 'span', 'a', 'td', 'h2', 'div', 'em', 'strong', 'code']

/** `bytes` bytes of the page. */
export function textPage(bytes: number): Buffer {
  let seed = 0x2545f491
  // xorshift32: deterministic and cheap; the page only needs to look like text.
  const next = (n: number) => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % n
  }
  let text = '<!doctype html><html><head><title>edgecache bench</title></head><body>\n'
  while (text.length < bytes) {
    const tag = TAGS[next(TAGS.length)]!
    let words = ''
    for (let i = 3 + next(12); i > 0; i--) words += `${WORDS[next(WORDS.length)]} `
    text += `<${tag} class="c${next(40)}" id="n${next(100_000)}">${words.trim()}</${tag}>\n`
  }
  return Buffer.from(text.slice(0, bytes))
}
