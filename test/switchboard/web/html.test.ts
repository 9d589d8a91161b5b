import test from 'ava';
import fc from 'fast-check';
import { lineHtml } from '../../../switchboard/web/console-html.js';
import { renderAll } from '../../../switchboard/web/console-render.js';
import { escapeHtml, html, raw } from '../../../switchboard/web/html.js';

test('every interpolated string is escaped', (t) => {
  const hostile = `<script>alert("x")</script>' onload='x' &amp;`;
  t.is(
    html`<p title="${hostile}">${hostile}</p>`.value,
    '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;x&#39; &amp;amp;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;x&#39; &amp;amp;</p>',
  );
});

test('nested templates and raw fragments are inserted as they are; arrays are joined; null and false vanish', (t) => {
  const inner = html`<b>${'<i>'}</b>`;
  // prettier-ignore
  const out = html`<p>${inner}${[html`<br>`, 'a&b']}${null}${undefined}${false}${0}</p>`;
  t.is(out.value, '<p><b>&lt;i&gt;</b><br>a&amp;b0</p>');
  t.is(html`${raw('&lt;ok&gt;')}`.value, '&lt;ok&gt;');
});

test('escaped text never holds a character that could open markup or end an attribute', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => {
      t.false(/[<>"']/.test(escapeHtml(s)));
      t.is(
        escapeHtml(s).replace(
          /&(lt|gt|quot|#39|amp);/g,
          (_, e) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e as 'lt']!,
        ),
        s,
      );
    }),
  );
});

test('console lines from any bytes render to markup with only the renderer own tags and classes', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      for (const l of renderAll(Buffer.from(bytes))) {
        const out = lineHtml({ id: l.start, end: l.end, runs: l.runs.map((r) => [r.cls, r.text]), t: 1 }, 0).value;
        const tags = out.match(/<[^>]*>/g) ?? [];
        for (const tag of tags)
          t.regex(
            tag,
            /^(<\/(div|span|a)>|<div class="ln" id="L\d+">|<a class="la" href="\?at=\d+#L\d+">|<span class="(ts|ta|tr|lc|[a-z0-9 ]+)">)$/,
          );
        t.false(/[<>]/.test(out.replace(/<[^>]*>/g, '')));
      }
    }),
    { numRuns: 500 },
  );
});

test('a hostile console line is shown as text', (t) => {
  const [l] = renderAll(Buffer.from('\x1b[31m<script>alert(1)</script>"\x1b]8;;javascript:alert(1)\x07x\n'));
  const out = lineHtml({ id: 0, end: l!.end, runs: l!.runs.map((r) => [r.cls, r.text]), t: null }, null).value;
  t.true(out.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot;'));
  t.false(out.includes('<script'));
  t.false(out.includes('javascript:'));
});
