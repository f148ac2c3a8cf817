#!/usr/bin/env python3
"""Regenerates the .eml fixtures (run from this directory). The fixtures are
committed; this script only documents how the encoded ones were made."""
import base64, quopri
def w(name, s):
    if isinstance(s, str): s = s.encode('utf-8')
    s = s.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    open(name, 'wb').write(s)

H = lambda mid, subj, extra='': (f"From: Alice Buyer <alice@example.com>\nTo: orders@shop.example\n"
     f"Subject: {subj}\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n" + (f"Message-ID: <{mid}>\n" if mid else '') + extra + "MIME-Version: 1.0\n")

w('plain_all_forms.eml', H('plain-1@example.com', 'Order', 'Reply-To: Purchasing <buy@corp.example>\n') +
"""Content-Type: text/plain; charset=utf-8

Hello,

please send:
ABC-123 x 2
3 x TEA-001
MUG-110 × 1
2 * PEN-2001
5 pcs BOX-450
- abc-124 X 1
1. 10x NOTE-777
INK-2002*4 (black)

Ship to:
Alice Buyer
1 Main Street
Springfield

Note: leave at the back door
Thanks, Alice
""")

w('no_order_lines.eml', H('noorder@example.com', 'Opening hours?') + """Content-Type: text/plain

Hi, when are you open on Saturday? Room 3 x 4 is fine.
Inbox ABC is full.
""")

w('bad_quantity.eml', H('badqty@example.com', 'Order') + """Content-Type: text/plain; charset=us-ascii

ABC-123 x 0
TEA-001 x two
MUG-110 x -1
PEN-2001 x 1.5
BOX-450 x 99999999999999999999
NOTE-777 x 3
""")

w('bad_sku.eml', H('badsku@example.com', 'Order') + """Content-Type: text/plain

ABCDEF-123 x 1
AB-12 x 2
ZZZ-999 x 1
""")

w('quoted_reply.eml', H('quoted@example.com', 'Re: Your order', 'In-Reply-To: <orig@shop.example>\n') + """Content-Type: text/plain; charset=utf-8

Yes, and add one more:
TEA-002 x 1

On Sun, 1 Mar 2026 at 09:00, Shop <orders@shop.example> wrote:
> Your order ABC-123 x 5 was received.
ABC-124 x 9 (unquoted text after the attribution)
""")

w('quoted_reply_wrapped.eml', H('quoted2@example.com', 'Re: order') + """Content-Type: text/plain

2 x MUG-110

On Sun, 1 Mar 2026 at 09:00, Shop Orders Department <orders@shop.example>
wrote:
ABC-123 x 5
""")

w('quoted_outlook.eml', H('quoted3@example.com', 'RE: order') + """Content-Type: text/plain

BOX-450 x 2

-----Original Message-----
From: Shop
ABC-123 x 5
""")

html_table = """<html><head><style>td {color: red}</style></head><body>
<p>Dear shop, my order:</p>
<table border="1">
<tr><th>SKU</th><th>Product</th><th>Qty</th></tr>
<tr><td>abc-123</td><td>Blue widget</td><td>2</td></tr>
<tr><td>TEA-001</td><td>Green tea</td><td> 4 </td></tr>
<tr><td>Total</td><td></td><td>6</td></tr>
</table>
<p>Note: gift wrap please</p>
<blockquote><table><tr><th>SKU</th><th>Qty</th></tr><tr><td>XYZ-9000</td><td>7</td></tr></table></blockquote>
</body></html>
"""
w('html_table_only.eml', H('html1@example.com', 'Order (HTML)') + "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
  quopri.encodestring(html_table.encode()).decode())

w('alternative_table.eml', H('alt1@example.com', 'Order') + """Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

Please see the table below.

--b1
Content-Type: text/html; charset=utf-8

<table><tr><td>Item code</td><td>Quantity</td></tr><tr><td>MUG-110</td><td>3</td></tr><tr><td>PEN-2001</td><td>zero</td></tr></table>
--b1--
""")

w('html_text_lines.eml', H('html2@example.com', 'Order') + """Content-Type: text/html

<div>Order:<br>2 x ABC-123<br>TEA-002 &times; 3</div><div>Ship to: Bob Smith<br>2 Elm Road</div><br><div>thanks</div>
<div class="gmail_quote">On Sun wrote:<br>NOTE-777 x 1</div>
""")

csv_semi = "SKU;Qty\nabc-123;2\nTEA-001;1\n\nMUG-110;x\n"
w('csv_attachment_semicolon.eml', H('csv1@example.com', 'Order attached') + """Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain; charset=utf-8

Order attached. Kind regards.

--outer
Content-Type: text/csv; name="order.csv"
Content-Disposition: attachment; filename="order.csv"
Content-Transfer-Encoding: base64

""" + base64.encodebytes(csv_semi.encode()).decode() + "\n--outer--\n")

csv_comma = 'qty,sku,comment\n3,XYZ-9000,"big, heavy"\n1,ink-2002,\n'
w('csv_attachment_comma.eml', H('csv2@example.com', 'Order attached') + """Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

See attachment, plus:
1 x BOX-450
--inner
Content-Type: text/html

<p>See attachment, plus:<br>1 x BOX-450</p>
--inner--

--outer
Content-Type: application/octet-stream; name="po.CSV"
Content-Disposition: attachment; filename="po.CSV"
Content-Transfer-Encoding: quoted-printable

""" + quopri.encodestring(csv_comma.encode()).decode() + "\n--outer\nContent-Type: image/png\nContent-Disposition: attachment; filename=logo.png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--outer--\n")

ru = """Здравствуйте!

Прошу отправить:
ABC-123 x 2
3 шт TEA-001 (не распознаётся)
2 pcs MUG-110

Ship to:
Иван Петров
ул. Ленина, 1

Note: позвоните перед доставкой
"""
w('windows1251_base64.eml', "From: =?windows-1251?B?" + base64.b64encode("Иван Петров".encode('cp1251')).decode() + "?= <ivan@example.ru>\n"
  "To: orders@shop.example\nSubject: =?windows-1251?B?" + base64.b64encode("Заказ".encode('cp1251')).decode() + "?=\n"
  "Message-ID: <cp1251@example.ru>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=windows-1251\nContent-Transfer-Encoding: base64\n\n" +
  base64.encodebytes(ru.encode('cp1251')).decode())

w('koi8r_qp.eml', "From: =?koi8-r?Q?" + quopri.encodestring("Ольга".encode('koi8-r'), header=True).decode() + "?= <olga@example.ru>\n"
  "To: orders@shop.example\nSubject: =?koi8-r?B?" + base64.b64encode("Заказ чая".encode('koi8-r')).decode() + "?=\n"
  "Message-ID: <koi8@example.ru>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: quoted-printable\n\n" +
  quopri.encodestring("Добрый день!\nTEA-001 * 4\nTEA-002 x 1\nNote: спасибо\n".encode('koi8-r')).decode())

w('latin1_qp.eml', "From: =?iso-8859-1?Q?J=FCrgen_M=FCller?= <juergen@example.de>\nTo: orders@shop.example\n"
  "Subject: =?iso-8859-1?Q?Bestellung_f=FCr_B=FCro?=\nMessage-ID: <latin1@example.de>\nMIME-Version: 1.0\n"
  "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" +
  quopri.encodestring("Grüße,\n2 x PEN-2001\nShip to: Jürgen Müller\nKönigstraße 5\n\n".encode('latin-1')).decode())

w('no_message_id.eml', "From: carol@example.org\nTo: orders@shop.example\nSubject: order\n\nXYZ-9000 x 1\n")

w('unknown_charset.eml', H('unkcs@example.com', 'Order') + "Content-Type: text/plain; charset=x-made-up\n\nABC-123 x 1\n")

w('truncated_base64.eml', H('trunc@example.com', 'Order') + "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" +
  base64.b64encode(b"ABC-123 x 2\nTEA-001 x 1\n").decode()[:18] + "!!*\n")

w('broken_multipart.eml', H('brokenmime@example.com', 'Order') + """Content-Type: multipart/mixed; boundary="never-closed"

--never-closed
Content-Type: text/plain

MUG-110 x 1
--never-clo""")

w('multipart_no_boundary.eml', H('noboundary@example.com', 'Order') + "Content-Type: multipart/mixed\n\nABC-123 x 1\n")

w('garbage.eml', "this is not an e-mail at all\nno header here\n")
w('empty.eml', "")
