#!/usr/bin/env python3
"""Writes the order-mail corpus (run from this directory): one .eml per case
and golden.txt with each mail's expected outcome and order lines.

The mails are written the way the common clients write them (header order,
quoting style, HTML structure, encodings) from studying public fixture sets
(talon, email_reply_parser, go-message and enmime testdata); none is copied.
The .eml files and golden.txt are committed; this script documents how the
encoded ones were made and keeps expectation next to mail.

golden.txt: name <TAB> category <TAB> outcome <TAB> lines [<TAB> key=value ...]
  lines: "SKU:qty" separated by spaces, "-" for none (for review: the lines
  read with confidence); keys: customer=ADDR (the order's customer),
  reason=TEXT (a substring of some reason), noreason=TEXT (no reason contains).
"""
import base64, quopri, os

GOLDEN = []
SHOP = 'Shop <orders@shop.example>'
DATE = 'Mon, 02 Mar 2026 09:15:00 +0100'

def w(name, cat, outcome, lines, data, crlf=True, **kw):
    if isinstance(data, str):
        data = data.encode('utf-8')
    if crlf:
        data = data.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    with open(name + '.eml', 'wb') as f:
        f.write(data)
    extra = ''.join('\t%s=%s' % (k, v) for k, v in kw.items())
    GOLDEN.append('%s.eml\t%s\t%s\t%s%s' % (name, cat, outcome, lines or '-', extra))

def H(frm='Alice Buyer <alice@example.com>', subj='Order', mid=None, to='orders@shop.example',
      date=DATE, extra='', mime=True):
    h = 'From: %s\nTo: %s\nSubject: %s\nDate: %s\n' % (frm, to, subj, date)
    if mid is not False:
        h += 'Message-ID: <%s>\n' % (mid or 'x')
    h += extra
    if mime:
        h += 'MIME-Version: 1.0\n'
    return h

def qp(s, cs='utf-8'):
    return quopri.encodestring(s.encode(cs)).decode('ascii')

def b64(b):
    if isinstance(b, str):
        b = b.encode('utf-8')
    e = base64.b64encode(b).decode('ascii')
    return '\n'.join(e[i:i + 76] for i in range(0, len(e), 76))

def plain(h, text, cs='utf-8', cte='quoted-printable'):
    body = qp(text, cs) if cte == 'quoted-printable' else (b64(text.encode(cs)) if cte == 'base64' else text)
    return h + 'Content-Type: text/plain; charset="%s"\nContent-Transfer-Encoding: %s\n\n%s\n' % (cs, cte, body)

def alt(h, text, html, b='_000_AM0PR01MB1234ABCDEF_', cs='utf-8'):
    return (h + 'Content-Type: multipart/alternative;\n\tboundary="%s"\n\n--%s\n'
            'Content-Type: text/plain; charset="%s"\nContent-Transfer-Encoding: quoted-printable\n\n%s\n'
            '--%s\nContent-Type: text/html; charset="%s"\nContent-Transfer-Encoding: quoted-printable\n\n%s\n--%s--\n'
            % (b, b, cs, qp(text, cs), b, cs, qp(html, cs), b))

def html_only(h, html, cs='utf-8'):
    return h + 'Content-Type: text/html; charset="%s"\nContent-Transfer-Encoding: quoted-printable\n\n%s\n' % (cs, qp(html, cs))

def mixed(h, body_part, atts, b='----boundary_mixed_42'):
    s = h + 'Content-Type: multipart/mixed; boundary="%s"\n\n--%s\n%s' % (b, b, body_part)
    for a in atts:
        s += '\n--%s\n%s' % (b, a)
    return s + '\n--%s--\n' % b

def textpart(text, cs='utf-8'):
    return 'Content-Type: text/plain; charset="%s"\nContent-Transfer-Encoding: quoted-printable\n\n%s\n' % (cs, qp(text, cs))

def attach(ctype, name, data, inline=False):
    disp = 'inline' if inline else 'attachment'
    return ('Content-Type: %s; name="%s"\nContent-Disposition: %s; filename="%s"\n'
            'Content-Transfer-Encoding: base64\n\n%s\n' % (ctype, name, disp, name, b64(data)))

# Outlook desktop HTML: WordSection1, MsoNormal paragraphs, the quoted
# header block after a border-top div, quoted text NOT inside any wrapper.
def outlook_html(new_lines, hdr, quoted_lines, lang='EN-US'):
    p = lambda l: '<p class=MsoNormal>%s<o:p></o:p></p>\n' % (l or '<o:p>&nbsp;</o:p>')
    hb = '<br>\n'.join('<b>%s</b> %s' % (k, v.replace('<', '&lt;').replace('>', '&gt;')) for k, v in hdr)
    return ('<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:w="urn:schemas-microsoft-com:office:word"><head><meta http-equiv=Content-Type content="text/html; charset=utf-8">'
            '<meta name=Generator content="Microsoft Word 15 (filtered medium)"><style><!--p.MsoNormal{margin:0cm;font-size:11.0pt;}--></style></head>'
            '<body lang=%s link="#0563C1" vlink="#954F72" style=\'word-wrap:break-word\'><div class=WordSection1>\n' % lang
            + ''.join(p(l) for l in new_lines)
            + '<div><div style=\'border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\'>\n<p class=MsoNormal>'
            + hb + '<o:p></o:p></p></div></div>\n' + p('') + ''.join(p(l) for l in quoted_lines) + '</div></body></html>')

def outlook_text(new_lines, hdr, quoted_lines, sep=None):
    s = '\n'.join(new_lines) + '\n\n'
    if sep:
        s += sep + '\n'
    s += '\n'.join('%s %s' % kv for kv in hdr) + '\n\n' + '\n'.join(quoted_lines) + '\n'
    return s

QUOTED = ['Dear Alice,', '', 'thank you for your order:', '', 'TEA-001 x 3', 'PEN-2001 x 1', '',
          'Unfortunately TEA-001 is out of stock.', '', 'Kind regards', 'Shop']

# ---------------------------------------------------------------- replies
def outlook_reply(name, lang, hdrnames, sep, new, subj, text_sep=True, dt='Monday, March 2, 2026 9:15 AM'):
    hdr = list(zip(hdrnames, ['Shop <orders@shop.example>', dt, 'Alice Buyer <alice@example.com>', 'Your order']))
    t = outlook_text(new, hdr, QUOTED, sep if text_sep else None)
    h = outlook_html(new, hdr, QUOTED, lang)
    w(name, 'reply', 'accepted', ' '.join(NEWLINES[tuple(new)]), alt(H(subj=subj, mid=name + '@mail.example.com',
      extra='In-Reply-To: <conf-1@shop.example>\nThread-Topic: Your order\nX-Mailer: Microsoft Outlook 16.0\n'), t, h))

NEWLINES = {}
def new(*lines, parsed):
    NEWLINES[tuple(lines)] = parsed.split()
    return list(lines)

outlook_reply('r01_outlook_en_original_message', 'EN-US', ['From:', 'Sent:', 'To:', 'Subject:'], '-----Original Message-----',
              new('Hi,', '', 'then please send instead:', 'TEA-002 x 3', '', 'Alice', parsed='TEA-002:3'), 'RE: Your order')
outlook_reply('r02_outlook_de_urspruengliche', 'DE', ['Von:', 'Gesendet:', 'An:', 'Betreff:'], '-----Ursprüngliche Nachricht-----',
              new('Hallo,', '', 'dann bitte stattdessen:', 'TEA-002 x 3', 'MUG-110 x 1', '', 'Gruß Alice', parsed='TEA-002:3 MUG-110:1'),
              'AW: Your order', dt='Montag, 2. März 2026 09:15')
outlook_reply('r03_outlook_en_separatorless', 'EN-US', ['From:', 'Sent:', 'To:', 'Subject:'], None,
              new('Hello,', 'please make it', 'MUG-110 x 2', 'Thanks', parsed='MUG-110:2'), 'RE: Your order', text_sep=False)
outlook_reply('r04_outlook_fr_message_origine', 'FR', ['De :', 'Envoyé :', 'À :', 'Objet :'], "-----Message d'origine-----",
              new('Bonjour,', 'alors merci d\'envoyer :', 'TEA-002 x 2', 'Cordialement', parsed='TEA-002:2'), 'RE: Your order',
              dt='lundi 2 mars 2026 09:15')
outlook_reply('r05_outlook_es_separatorless', 'ES', ['De:', 'Enviado el:', 'Para:', 'Asunto:'], None,
              new('Hola,', 'entonces envíen por favor:', 'BOX-450 x 2', 'Saludos', parsed='BOX-450:2'), 'RE: Your order',
              text_sep=False, dt='lunes, 2 de marzo de 2026 9:15')
outlook_reply('r06_outlook_it_messaggio_originale', 'IT', ['Da:', 'Inviato:', 'A:', 'Oggetto:'], '-----Messaggio originale-----',
              new('Buongiorno,', 'allora inviate:', 'INK-2002 x 4', 'Grazie', parsed='INK-2002:4'), 'R: Your order',
              dt='lunedì 2 marzo 2026 09:15')
outlook_reply('r07_outlook_nl_underscores', 'NL', ['Van:', 'Verzonden:', 'Aan:', 'Onderwerp:'], '_' * 32,
              new('Hallo,', 'stuur dan graag:', 'NOTE-777 x 2', 'Groet', parsed='NOTE-777:2'), 'RE: Your order',
              dt='maandag 2 maart 2026 09:15')
outlook_reply('r08_outlook_pt_separatorless', 'PT-BR', ['De:', 'Enviada em:', 'Para:', 'Assunto:'], None,
              new('Olá,', 'então enviem:', 'ABC-124 x 1', 'Obrigado', parsed='ABC-124:1'), 'RE: Your order',
              text_sep=False, dt='segunda-feira, 2 de março de 2026 09:15')
outlook_reply('r09_outlook_ru_ishodnoe', 'RU', ['От:', 'Отправлено:', 'Кому:', 'Тема:'], '-----Исходное сообщение-----',
              new('Здравствуйте,', 'тогда пришлите:', 'TEA-002 x 5', 'Спасибо', parsed='TEA-002:5'), 'RE: Your order',
              dt='2 марта 2026 г. 9:15')
outlook_reply('r10_outlook_ja_separatorless', 'JA', ['差出人:', '送信日時:', '宛先:', '件名:'], None,
              new('お世話になっております。', '以下に変更をお願いします。', 'ABC-123 x 2', 'よろしくお願いします。', parsed='ABC-123:2'),
              'RE: Your order', text_sep=False, dt='2026年3月2日 9:15')

# Gmail: plain "> " quoting, HTML gmail_quote with gmail_attr.
def gmail_reply(name, attr, new, parsed, subj='Re: Your order', wrap=None):
    q = '\n'.join('> ' + l if l else '>' for l in QUOTED)
    attr_t = wrap or attr
    t = '\n'.join(new) + '\n\n' + attr_t + '\n\n' + q + '\n'
    esc = attr.replace('<', '&lt;').replace('>', '&gt;')
    hq = '<br>'.join(QUOTED)
    h = ('<div dir="ltr">' + ''.join('<div>%s</div>' % (l or '<br>') for l in new) + '</div><br><div class="gmail_quote">'
         '<div dir="ltr" class="gmail_attr">%s<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
         'border-left:1px solid rgb(204,204,204);padding-left:1ex">%s</blockquote></div>\n' % (esc, hq))
    w(name, 'reply', 'accepted', parsed, alt(H(subj=subj, mid='CAF%s=Kx@mail.gmail.com' % name,
      extra='In-Reply-To: <conf-1@shop.example>\nReferences: <conf-1@shop.example>\n'), t, h, b='000000000000a1b2c3d4e5f6' + name[:3]))

gmail_reply('r11_gmail_en', 'On Mon, Mar 2, 2026 at 9:15\u202fAM Shop <orders@shop.example> wrote:', ['Hi,', 'please send TEA-002 x 3 instead.'], '-')
GOLDEN[-1] = GOLDEN[-1].replace('\taccepted\t-', '\treview\t-')  # one SKU line inside a sentence: not read with confidence
gmail_reply('r12_gmail_de', 'Am Mo., 2. März 2026 um 09:15 Uhr schrieb Shop <orders@shop.example>:', ['Hallo,', '', 'TEA-002 x 3', '', 'Alice'], 'TEA-002:3')
gmail_reply('r13_gmail_fr', 'Le lun. 2 mars 2026 à 09:15, Shop <orders@shop.example> a écrit :', ['Bonjour,', '', 'TEA-002 x 2', 'MUG-110 x 1'], 'TEA-002:2 MUG-110:1')
gmail_reply('r14_gmail_es', 'El lun, 2 mar 2026 a las 9:15, Shop (<orders@shop.example>) escribió:', ['Hola,', '', '2 x BOX-450'], 'BOX-450:2')
gmail_reply('r15_gmail_it', 'Il giorno lun 2 mar 2026 alle ore 09:15 Shop <orders@shop.example> ha scritto:', ['Ciao,', '', 'NOTE-777 x 1'], 'NOTE-777:1')
gmail_reply('r16_gmail_nl', 'Op ma 2 mrt 2026 om 09:15 schreef Shop <orders@shop.example>:', ['Hoi,', '', 'INK-2002 x 2'], 'INK-2002:2')
gmail_reply('r17_gmail_pt', 'Em seg., 2 de mar. de 2026 às 09:15, Shop <orders@shop.example> escreveu:', ['Olá,', '', 'PEN-2001 x 1'], 'PEN-2001:1')
gmail_reply('r18_gmail_ru', 'пн, 2 мар. 2026 г. в 09:15, Shop <orders@shop.example>:', ['Добрый день,', '', 'TEA-002 x 4'], 'TEA-002:4')
gmail_reply('r19_gmail_ja', '2026年3月2日(月) 9:15 Shop <orders@shop.example>:', ['お世話になります。', '', 'MUG-110 x 2'], 'MUG-110:2')
gmail_reply('r20_gmail_wrapped_attribution', 'On Mon, Mar 2, 2026 at 9:15 AM Shop Customer Service Team <orders@shop.example> wrote:',
            ['Hello,', '', 'ABC-124 x 3'], 'ABC-124:3',
            wrap='On Mon, Mar 2, 2026 at 9:15 AM Shop Customer Service Team <\norders@shop.example> wrote:')

# Apple Mail: "On … at …, X wrote:" then blockquote type=cite; plain "> ".
def apple_reply(name, attr, newl, parsed, lang_sig='Sent from my iPhone'):
    q = '\n'.join('> ' + l if l else '>' for l in QUOTED)
    t = '\n'.join(newl) + '\n\n' + lang_sig + '\n\n> ' + attr + '\n> \n' + q + '\n'
    esc = attr.replace('<', '&lt;').replace('>', '&gt;')
    h = ('<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body dir="auto">'
         + ''.join('<div dir="ltr">%s</div>' % (l or '<br>') for l in newl)
         + '<div dir="ltr"><br id="lineBreakAtBeginningOfSignature"><div dir="ltr">%s</div><div dir="ltr"><br><blockquote type="cite">%s</blockquote></div>'
         '<blockquote type="cite"><div dir="ltr">%s</div></blockquote></div></body></html>' % (lang_sig, esc, '<br>'.join(QUOTED)))
    w(name, 'reply', 'accepted', parsed, alt(H(subj='Re: Your order', mid='%s-4C1D-9E2F@icloud.com' % name,
      extra='In-Reply-To: <conf-1@shop.example>\nX-Mailer: iPhone Mail (22D82)\n'), t, h, b='Apple-Mail-4A5B6C7D-' + name[:3]))

apple_reply('r21_apple_en', 'On 2 Mar 2026, at 09:15, Shop <orders@shop.example> wrote:', ['TEA-002 x 3'], 'TEA-002:3')
apple_reply('r22_apple_de', 'Am 02.03.2026 um 09:15 schrieb Shop <orders@shop.example>:', ['Bitte:', 'TEA-002 x 1', 'BOX-450 x 1'], 'TEA-002:1 BOX-450:1',
            'Von meinem iPhone gesendet')
apple_reply('r23_apple_nl', 'Op 2 mrt. 2026, om 09:15 heeft Shop <orders@shop.example> het volgende geschreven:', ['MUG-110 x 4'], 'MUG-110:4',
            'Verstuurd vanaf mijn iPhone')

# Thunderbird: moz-cite-prefix div + blockquote type=cite (HTML only).
w('r24_thunderbird_html', 'reply', 'accepted', 'PEN-2001:2', html_only(H(subj='Re: Your order', mid='b1c2d3e4-r24@example.com',
  extra='User-Agent: Mozilla Thunderbird\nIn-Reply-To: <conf-1@shop.example>\n'),
  '<!DOCTYPE html>\n<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head><body>\n'
  '<p>Hello,</p><p>PEN-2001 x 2<br></p>\n<div class="moz-cite-prefix">On 02.03.26 09:15, Shop wrote:<br></div>\n'
  '<blockquote type="cite" cite="mid:conf-1@shop.example">' + '<br>\n'.join(QUOTED) + '</blockquote>\n</body></html>'))
w('r25_thunderbird_de_plain', 'reply', 'accepted', 'TEA-002:2', plain(H(subj='Re: Your order', mid='r25@example.de',
  extra='User-Agent: Mozilla Thunderbird\n'), 'Hallo,\n\nTEA-002 x 2\n\nAm 02.03.26 um 09:15 schrieb Shop:\n' +
  '\n'.join('> ' + l for l in QUOTED) + '\n', cte='8bit'))

# Outlook on the web: divRplyFwdMsg, quoted text is a sibling, not inside.
def owa(newl, hdr, quoted, fwd=False):
    return ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style></head>'
            '<body dir="ltr">' + ''.join('<div class="elementToProof" style="font-family: Aptos, sans-serif; font-size: 12pt;">%s</div>' % (l or '<br>') for l in newl)
            + '<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
            '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000">'
            + '<br>'.join('<b>%s</b> %s' % (k, v.replace('<', '&lt;').replace('>', '&gt;')) for k, v in hdr)
            + '</font><div>&nbsp;</div></div><div class="BodyFragment"><font size="2"><span style="font-size:11pt;"><div class="PlainText">'
            + '<br>\n'.join(quoted) + '</div></span></font></div></body></html>')
OWAHDR = [('From:', 'Shop <orders@shop.example>'), ('Sent:', 'Monday, March 2, 2026 09:15'), ('To:', 'Alice Buyer <alice@example.com>'), ('Subject:', 'Your order')]
w('r26_outlook_web', 'reply', 'accepted', 'BOX-450:3', html_only(H(subj='Re: Your order', mid='AM0PR01MB-r26@eurprd01.prod.outlook.com'),
  owa(['Hi,', '', 'BOX-450 x 3', '', 'Alice'], OWAHDR, QUOTED)))
w('r27_outlook_ios', 'reply', 'accepted', 'NOTE-777:1', plain(H(subj='Re: Your order', mid='r27@outlook.com'),
  'NOTE-777 x 1\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\nFrom: Shop <orders@shop.example>\n'
  'Sent: Monday, March 2, 2026 9:15:00 AM\nTo: Alice Buyer <alice@example.com>\nSubject: Your order\n\n' + '\n'.join(QUOTED) + '\n'))
w('r28_android_gmail', 'reply', 'accepted', 'ABC-123:1', plain(H(subj='Re: Your order', mid='CAr28@mail.gmail.com'),
  'ABC-123 x 1\n\nOn Mon, 2 Mar 2026, 09:15 Shop, <orders@shop.example> wrote:\n\n' + '\n'.join('> ' + l for l in QUOTED) + '\n'))
w('r29_only_quoted_lines', 'reply', 'ignored', '-', plain(H(subj='Re: Your order', mid='r29@example.com'),
  'Yes, that is fine, thank you!\n\nOn Mon, Mar 2, 2026 at 9:15 AM Shop <orders@shop.example> wrote:\n' +
  '\n'.join('> ' + l for l in QUOTED) + '\n'), reason='quoted')
w('r30_underscores_above_order', 'reply', 'accepted', 'ABC-123:2 TEA-001:1', plain(H(subj='Order', mid='r30@example.com'),
  'Hello,\n\nmy order:\n____________________\nABC-123 x 2\nTEA-001 x 1\n____________________\n\nThanks, Alice\n'))
w('r31_outlook_mac_de', 'reply', 'accepted', 'INK-2002:1', plain(H(subj='AW: Your order', mid='r31@example.de',
  extra='User-Agent: Microsoft-MacOutlook/16.93\n'), 'INK-2002 x 1\n\nVon: Shop <orders@shop.example>\nDatum: Montag, 2. März 2026 um 09:15\n'
  'An: Alice Buyer <alice@example.com>\nBetreff: Your order\n\n' + '\n'.join(QUOTED) + '\n'))

# ---------------------------------------------------------------- forwards
FWD_BODY = ['Hello shop,', '', 'please send:', 'ABC-123 x 2', 'MUG-110 x 1', '', 'Bob']
def gmail_fwd(name, sender, sep, outcome, parsed, hdrn=('From:', 'Date:', 'Subject:', 'To:'), subj='Fwd: Order', **kw):
    hdr = '\n'.join('%s %s' % kv for kv in zip(hdrn, ['Bob Customer <bob@customer.example>', 'Mon, Mar 2, 2026 at 8:00 AM', 'Order', 'sales@shop.example']))
    t = 'FYI\n\n' + sep + '\n' + hdr + '\n\n\n' + '\n'.join(FWD_BODY) + '\n'
    hh = hdr.replace('<', '&lt;').replace('>', '&gt;').replace('\n', '<br>')
    h = ('<div dir="ltr">FYI<br><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">%s<br>%s<br></div><br><br>'
         '<div dir="ltr">%s</div></div></div>' % (sep, hh, '<br>'.join(FWD_BODY)))
    w(name, 'forward', outcome, parsed, alt(H(frm=sender, subj=subj, mid='CA%s@mail.gmail.com' % name), t, h, b='0000000000f00d' + name[:3]), **kw)

gmail_fwd('f01_gmail_fwd_stranger', 'Carol Reseller <carol@reseller.example>', '---------- Forwarded message ---------', 'review', 'ABC-123:2 MUG-110:1', reason='forward')
gmail_fwd('f02_gmail_fwd_shop', 'Sales <sales@shop.example>', '---------- Forwarded message ---------', 'accepted', 'ABC-123:2 MUG-110:1', customer='bob@customer.example')
gmail_fwd('f03_gmail_fwd_es_stranger', 'Carol <carol@reseller.example>', '---------- Mensaje reenviado ---------', 'review', 'ABC-123:2 MUG-110:1',
          hdrn=('De:', 'Date:', 'Subject:', 'To:'), subj='Fwd: Order')
gmail_fwd('f04_gmail_fwd_ru_stranger', 'Carol <carol@reseller.example>', '---------- Пересылаемое сообщение ---------', 'review', 'ABC-123:2 MUG-110:1',
          hdrn=('От:', 'Дата:', 'Тема:', 'Кому:'), subj='Fwd: Order')
w('f05_outlook_wg_de_shop', 'forward', 'accepted', 'TEA-001:2', plain(H(frm='Vertrieb <sales@shop.example>', subj='WG: Bestellung', mid='f05@shop.example'),
  'Bitte bearbeiten.\n\n-----Ursprüngliche Nachricht-----\nVon: Bob Customer <bob@customer.example>\nGesendet: Montag, 2. März 2026 08:00\n'
  'An: sales@shop.example\nBetreff: Bestellung\n\nGuten Tag,\n\nTEA-001 x 2\n\nBob\n'), customer='bob@customer.example')
w('f06_apple_begin_forwarded_stranger', 'forward', 'review', 'ABC-123:2 MUG-110:1', plain(H(frm='Carol <carol@reseller.example>', subj='Fwd: Order', mid='f06@icloud.com'),
  'Sent from my iPhone\n\nBegin forwarded message:\n\n> From: Bob Customer <bob@customer.example>\n> Date: 2 March 2026 at 08:00:00 CET\n'
  '> To: sales@shop.example\n> Subject: Order\n> \n' + '\n'.join('> ' + l for l in FWD_BODY) + '\n'))
w('f07_thunderbird_fwd_shop', 'forward', 'accepted', 'ABC-123:2 MUG-110:1', html_only(H(frm='Sales <sales@shop.example>', subj='Fwd: Order', mid='f07@shop.example',
  extra='User-Agent: Mozilla Thunderbird\n'),
  '<html><head><meta http-equiv="content-type" content="text/html; charset=UTF-8"></head><body><p><br></p>'
  '<div class="moz-forward-container"><br><br>-------- Forwarded Message --------\n<table class="moz-email-headers-table" cellspacing="0" cellpadding="0" border="0">'
  '<tbody><tr><th valign="BASELINE" nowrap="nowrap" align="RIGHT">Subject: </th><td>Order</td></tr>'
  '<tr><th valign="BASELINE" nowrap="nowrap" align="RIGHT">Date: </th><td>Mon, 2 Mar 2026 08:00:00 +0100</td></tr>'
  '<tr><th valign="BASELINE" nowrap="nowrap" align="RIGHT">From: </th><td>Bob Customer <a class="moz-txt-link-rfc2396E" href="mailto:bob@customer.example">&lt;bob@customer.example&gt;</a></td></tr>'
  '<tr><th valign="BASELINE" nowrap="nowrap" align="RIGHT">To: </th><td>sales@shop.example</td></tr></tbody></table><br><br>'
  + '<br>\n'.join(FWD_BODY) + '</div></body></html>'), customer='bob@customer.example')
w('f08_outlook_tr_fr_stranger', 'forward', 'review', 'TEA-002:1', plain(H(frm='Carole <carole@revendeur.example>', subj='TR: Commande', mid='f08@example.fr'),
  'Pour info.\n\n-----Message d\'origine-----\nDe : Bob <bob@customer.example>\nEnvoyé : lundi 2 mars 2026 08:00\nÀ : carole@revendeur.example\n'
  'Objet : Commande\n\nTEA-002 x 1\n'))
w('f09_fwd_newsletter_stranger', 'forward', 'ignored', '-', plain(H(frm='Carol <carol@reseller.example>', subj='Fwd: Spring news', mid='f09@example.com'),
  'Look at this!\n\n---------- Forwarded message ---------\nFrom: News <news@other.example>\nDate: Sun, Mar 1, 2026\nSubject: Spring news\n\n'
  'Our spring collection is here. Visit our stores.\n'))
w('f10_owa_fw_shop', 'forward', 'accepted', 'BOX-450:2', html_only(H(frm='Sales <sales@shop.example>', subj='FW: Order', mid='f10@shop.example'),
  owa(['Please process.'], [('From:', 'Bob Customer <bob@customer.example>'), ('Sent:', 'Monday, March 2, 2026 08:00'),
      ('To:', 'sales@shop.example'), ('Subject:', 'Order')], ['Hello,', '', 'BOX-450 x 2', '', 'Bob'], fwd=True)), customer='bob@customer.example')

# ---------------------------------------------------------------- line forms
def order(name, cat, outcome, parsed, text, subj='Order', cs='utf-8', cte='quoted-printable', frm='Alice Buyer <alice@example.com>', **kw):
    w(name, cat, outcome, parsed, plain(H(frm=frm, subj=subj, mid=name + '@example.com'), text, cs, cte), **kw)

order('l01_all_forms_issue', 'lines', 'accepted', 'TEA-001:2 MUG-110:4 PEN-2001:1 BOX-450:3 NOTE-777:5 ABC-123:2',
      'Hello,\n\n2 TEA-001\nMUG-110 - 4 pcs\nPEN-2001: 1\nBOX-450 (3)\nQty 5 NOTE-777\nABC-123 x 2\n\nThanks\n')
order('l02_one_unreadable_line', 'lines', 'review', 'ABC-123:2', 'ABC-123 x 2\nTEA-001 - maybe three?\n', reason='TEA-001 - maybe three?')
order('l03_unknown_sku', 'lines', 'rejected', 'ABC-123:1 ZZZ-999:1', 'ABC-123 x 1\nZZZ-999 x 1\n', reason='ZZZ-999')
order('l04_zero_quantity', 'lines', 'rejected', '-', 'ABC-123 x 0\n', reason='ABC-123 x 0')
order('l05_two_skus_one_line', 'lines', 'review', '-', 'Please replace PEN-2001 with INK-2002, 2 pieces.\n')
order('l06_de_units', 'lines', 'accepted', 'TEA-001:3 MUG-110:2', 'Hallo,\n3 Stück TEA-001\nMUG-110 x 2 Stk.\nDanke\n', subj='Bestellung')
order('l07_fr_units', 'lines', 'accepted', 'ABC-123:2 TEA-002:4', 'Bonjour,\n2 pièces ABC-123\nTEA-002 : 4\nMerci\n', subj='Commande')
order('l08_es_units', 'lines', 'accepted', 'ABC-123:2 NOTE-777:1', 'Hola,\nABC-123 x 2 unidades\nNOTE-777 x 1 ud.\n', subj='Pedido')
order('l09_too_many_lines', 'lines', 'rejected', ' '.join(['ABC-123:1'] * 51), 'ABC-123 x 1\n' * 51, reason='too many order lines')
order('l10_shipto_then_lines', 'lines', 'accepted', 'ABC-123:2 TEA-001:1',
      'Ship to: Alice Buyer\n1 Main Street\nABC-123 x 2\nTEA-001 x 1\n', noreason='Ship')
order('l11_bullets', 'lines', 'accepted', 'ABC-123:2 TEA-001:1 MUG-110:1', '• ABC-123 x 2\n1) TEA-001 x 1\n- MUG-110 × 1\n')
order('l12_pipe_table_text', 'lines', 'review', '-', '| SKU | Name | Qty |\n|---|---|---|\n| ABC-123 | Blue widget | 2 |\n')
order('l13_forms_x_attached', 'lines', 'accepted', 'ABC-123:2 ABC-124:2 TEA-001:2', '2x ABC-123\nABC-124 2x\nTEA-001 x2\n')
order('l14_trailing_punct_desc', 'lines', 'accepted', 'ABC-123:2 TEA-001:3 MUG-110:1', 'ABC-123 x 2.\nTEA-001 x 3, please\nMUG-110 x 1 (blue if possible)\n')
order('l15_lowercase', 'lines', 'accepted', 'ABC-123:2', 'abc-123 x 2\n')
order('l16_huge_and_decimal_qty', 'lines', 'rejected', '-', 'ABC-123 x 99999999\nTEA-001 x 2,5\n', reason='TEA-001 x 2,5')
order('l17_order_subject_no_lines', 'lines', 'ignored', '-', 'Hello, please call me back about an order. Thanks\n')
order('l18_price_after_qty', 'lines', 'accepted', 'ABC-123:2', 'ABC-123 x 2 à 12,50 €\n', subj='Commande')
order('l19_it_nl_ru_units', 'lines', 'accepted', 'TEA-001:2 MUG-110:3 BOX-450:1', 'TEA-001 x 2 pezzi\n3 stuks MUG-110\nBOX-450 - 1 шт.\n')
order('l20_no_message_id_plain', 'lines', 'accepted', 'PEN-2001:1', 'PEN-2001 x 1\n')
GOLDEN.pop()
w('l20_no_message_id_plain', 'lines', 'accepted', 'PEN-2001:1', plain(H(subj='Order', mid=False), 'PEN-2001 x 1\n'))

# ---------------------------------------------------------------- normalisation
w('n01_nbsp_cp1252_qp', 'normalise', 'accepted', 'ABC-123:2 TEA-001:3', plain(H(subj='Order', mid='n01@example.com',
  extra='X-Mailer: Microsoft Outlook 16.0\n'), 'ABC-123 x\u00a02\nTEA-001\u00a0x\u00a03\n', cs='windows-1252'))
w('n02_nbsp_html_entities', 'normalise', 'accepted', 'ABC-123:2', html_only(H(subj='Order', mid='n02@example.com'),
  '<html><body><p>ABC-123&nbsp;x&nbsp;2</p></body></html>'))
order('n03_fullwidth_ja', 'normalise', 'accepted', 'ABC-123:2 TEA-001:3', 'ご注文\nＡＢＣ－１２３ × ２\nTEA-001\u3000３個\n', subj='注文')
order('n04_unicode_dashes', 'normalise', 'accepted', 'ABC-123:2 TEA-001:1 MUG-110:1', 'ABC\u2013123 x 2\nTEA\u2010001 x 1\nMUG\u2212110 x 1\n')
order('n05_nbsp_in_reason', 'normalise', 'rejected', 'ZZZ-999:2', 'ZZZ-999 x\u00a02\n', reason='ZZZ-999', noreason='\\u00a0')
order('n06_soft_hyphen_zwsp', 'normalise', 'accepted', 'ABC-123:2 TEA-002:1', 'ABC-\u00ad123 x 2\nTEA-002\u200b x 1\n')
w('n07_html_split_spans', 'normalise', 'accepted', 'ABC-123:2', html_only(H(subj='Order', mid='n07@example.com'),
  '<html><body><div class=WordSection1><p class=MsoNormal><span lang=EN-US>ABC-</span><span lang=EN-US>123 x <b>2</b></span></p></div></body></html>'))
order('n08_fullwidth_colon_x', 'normalise', 'accepted', 'PEN-2001:1 MUG-110:2', 'PEN-2001：1\nMUG-110 ｘ 2\n', subj='注文')

# ---------------------------------------------------------------- broken MIME
w('m01_unquoted_nextpart_boundary', 'mime', 'accepted', 'ABC-123:2', 'From: "Alice Buyer" <alice@example.com>\nTo: <orders@shop.example>\n'
  'Subject: Order\nDate: Mon, 2 Mar 2026 09:15:00 +0100\nMessage-ID: <000801da0c1e$1a2b3c40$4f5e6d70@example>\nMIME-Version: 1.0\n'
  'Content-Type: multipart/alternative;\n\tboundary=----=_NextPart_000_0009_01DA0C26.7B8F1A20\nX-Mailer: Microsoft Outlook Express 6.00.2900.5512\n\n'
  'This is a multi-part message in MIME format.\n\n------=_NextPart_000_0009_01DA0C26.7B8F1A20\nContent-Type: text/plain;\n\tcharset="iso-8859-1"\n'
  'Content-Transfer-Encoding: quoted-printable\n\nHello,=0A=0AABC-123 x 2=0A\n\n------=_NextPart_000_0009_01DA0C26.7B8F1A20\n'
  'Content-Type: text/html;\n\tcharset="iso-8859-1"\nContent-Transfer-Encoding: quoted-printable\n\n'
  '<HTML><BODY><DIV>Hello,</DIV><DIV>&nbsp;</DIV><DIV>ABC-123 x 2<BR></DIV></BODY></HTML>\n\n------=_NextPart_000_0009_01DA0C26.7B8F1A20--\n')
w('m02_unquoted_attachment_name', 'mime', 'accepted', 'TEA-001:2 BOX-450:1', mixed(H(subj='Order', mid='m02@example.com'), textpart('Hello, see the attached list.\n'),
  ['Content-Type: text/csv; name=order list.csv\nContent-Disposition: attachment; filename=order list.csv\nContent-Transfer-Encoding: base64\n\n'
   + b64('sku,qty\nTEA-001,2\nBOX-450,1\n') + '\n']))
w('m03_unfolded_continuation', 'mime', 'accepted', 'MUG-110:1', 'From: Alice Buyer <alice@example.com>\nTo: orders@shop.example\nSubject: Order\n'
  'References: <a1@example.com>\n<a2@example.com>\nDate: Mon, 02 Mar 2026 09:15:00 +0100\nMessage-ID: <m03@example.com>\nMIME-Version: 1.0\n'
  'Content-Type: text/plain; charset=utf-8\n\nMUG-110 x 1\n')
w('m04_bom', 'mime', 'accepted', 'ABC-124:2', '\ufeff' + plain(H(subj='Order', mid='m04@example.com'), 'ABC-124 x 2\n', cte='8bit'))
w('m05_bare_lf', 'mime', 'accepted', 'TEA-002:2', alt(H(subj='Order', mid='m05@example.com'), 'TEA-002 x 2\n', '<p>TEA-002 x 2</p>'), crlf=False)
w('m06_utf7', 'mime', 'accepted', 'ABC-123:2 NOTE-777:1', H(subj='Order', mid='m06@example.com') +
  'Content-Type: text/plain; charset=utf-7\nContent-Transfer-Encoding: 7bit\n\nABC-123 x+AKA-2\nNOTE-777 +ANc- 1\n')
w('m07_meta_charset', 'mime', 'accepted', 'ABC-123:2 MUG-110:1', H(subj='Bestellung', mid='m07@example.de') +
  'Content-Type: text/html\nContent-Transfer-Encoding: 8bit\n\n'.encode() .decode() +
  '<html><head><meta charset="windows-1252"></head><body><p>Gr\xfc\xdfe,</p><p>ABC-123 \xd7 2<br>MUG-110 \xd7 1</p></body></html>\n', crlf=True)
# m07 holds windows-1252 bytes: rewrite it byte-exactly.
GOLDEN.pop()
w('m07_meta_charset', 'mime', 'accepted', 'ABC-123:2 MUG-110:1', (H(subj='Bestellung', mid='m07@example.de') +
  'Content-Type: text/html\nContent-Transfer-Encoding: 8bit\n\n').encode() +
  '<html><head><meta charset="windows-1252"></head><body><p>Grüße,</p><p>ABC-123 × 2<br>MUG-110 × 1</p></body></html>\n'.encode('cp1252'))
w('m08_bad_references', 'mime', 'accepted', 'TEA-001:1', plain(H(subj='Order', mid='m08@example.com',
  extra='References: <ok@example.com> not-a-msg-id <also@@bad>\nIn-Reply-To: garbage\n'), 'TEA-001 x 1\n'))
w('m09_trailing_semicolon_ct', 'mime', 'accepted', 'PEN-2001:2', H(subj='Order', mid='m09@example.com') +
  'Content-Type: text/plain; charset="utf-8";\nContent-Transfer-Encoding: 7bit\n\nPEN-2001 x 2\n')
w('m10_missing_final_boundary', 'mime', 'accepted', 'BOX-450:2', H(subj='Order', mid='m10@example.com') +
  'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\nBOX-450 x 2\n\n--b1\n'
  'Content-Type: application/octet-stream; name="x.bin"\nContent-Transfer-Encoding: base64\n\nAAAA\n')
w('m11_related_inline_image', 'mime', 'accepted', 'ABC-123:1', H(subj='Order', mid='m11@example.com') +
  'Content-Type: multipart/related; boundary="rel"; type="multipart/alternative"\n\n--rel\nContent-Type: multipart/alternative; boundary="alt"\n\n'
  '--alt\nContent-Type: text/plain; charset=utf-8\n\nABC-123 x 1\n\nAlice [cid:image001.png@01DA0C26]\n--alt\nContent-Type: text/html; charset=utf-8\n\n'
  '<p>ABC-123 x 1</p><p>Alice <img src="cid:image001.png@01DA0C26"></p>\n--alt--\n\n--rel\nContent-Type: image/png; name="image001.png"\n'
  'Content-Description: image001.png\nContent-Disposition: inline; filename="image001.png"\nContent-ID: <image001.png@01DA0C26>\n'
  'Content-Transfer-Encoding: base64\n\niVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\n--rel--\n')
w('m12_qp_soft_break_in_sku', 'mime', 'accepted', 'ABC-123:2', H(subj='Order', mid='m12@example.com') +
  'Content-Type: text/plain; charset="iso-8859-1"\nContent-Transfer-Encoding: quoted-printable\n\nABC-=\n123 x 2\n')
w('m13_raw_utf8_subject', 'mime', 'accepted', 'TEA-001:1', ('From: Jörg Käufer <joerg@example.de>\nTo: orders@shop.example\nSubject: Bestellung Käse\n'
  'Date: Mon, 02 Mar 2026 09:15:00 +0100\nMessage-ID: <m13@example.de>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n'
  'Content-Transfer-Encoding: 8bit\n\nTEA-001 x 1\n'))
w('m14_garbage', 'mime', 'review', '-', b'\x00\x01\x02PK\x03\x04 not a mail at all \xff\xfe\n\x00\x00', crlf=False)
w('m15_rfc2231_filename', 'mime', 'accepted', 'NOTE-777:2', mixed(H(subj='Bestellung', mid='m15@example.de'), textpart('Anbei.\n'),
  ["Content-Type: text/csv;\n name*=UTF-8''Bestellung%20M%C3%A4rz.csv\nContent-Disposition: attachment;\n filename*=UTF-8''Bestellung%20M%C3%A4rz.csv\n"
   'Content-Transfer-Encoding: base64\n\n' + b64('Artikelnummer;Menge\nNOTE-777;2\n') + '\n']))
w('m16_header_only', 'mime', 'ignored', '-', H(subj='Hello', mid='m16@example.com') + 'Content-Type: text/plain\n\n')
w('m17_windows1251_base64', 'mime', 'accepted', 'ABC-123:2', plain(H(frm='=?windows-1251?B?yOLg7SDP5fLw7uI=?= <ivan@example.ru>', subj='=?windows-1251?B?x+Dq4Ao=?=',
  mid='m17@example.ru'), 'Здравствуйте,\nABC-123 x 2\n', cs='windows-1251', cte='base64'))

# ---------------------------------------------------------------- tables and CSV
def tbl(rows, attrs='border=1 cellpadding=0 cellspacing=0'):
    return '<table %s>' % attrs + ''.join('<tr>' + ''.join('<td>%s</td>' % c for c in r) + '</tr>' for r in rows) + '</table>'
def table_mail(name, outcome, parsed, rows, pre='<p>Hello, our order:</p>', subj='Order', nest=False, text=None, **kw):
    t = tbl(rows)
    if nest:
        t = ('<table width="100%" cellpadding=0 cellspacing=0 style="width:100.0%"><tr><td style="padding:0">'
             '<table cellpadding=0><tr><td><p class=MsoNormal>Purchase order</p></td></tr><tr><td>' + t + '</td></tr></table>'
             '</td><td><img width=120 src="cid:logo"></td></tr></table>')
    html = '<html><body>' + pre + t + '<p>Thanks</p></body></html>'
    if text is None:
        w(name, 'table', outcome, parsed, html_only(H(subj=subj, mid=name + '@example.com'), html), **kw)
    else:
        w(name, 'table', outcome, parsed, alt(H(subj=subj, mid=name + '@example.com'), text, html), **kw)

table_mail('t01_nested_outlook_layout', 'accepted', 'ABC-123:2 TEA-001:4', [['SKU', 'Description', 'Qty'], ['ABC-123', 'Blue widget', '2'], ['TEA-001', 'Green tea', '4']], nest=True)
table_mail('t02_item_no_qty_ordered', 'accepted', 'MUG-110:3', [['Item No.', 'Description', 'Qty ordered'], ['MUG-110', 'Mug', '3']])
table_mail('t03_de_artnr_menge', 'accepted', 'TEA-002:2 BOX-450:1', [['Pos.', 'Art.-Nr.', 'Bezeichnung', 'Menge'], ['1', 'TEA-002', 'Schwarztee', '2'], ['2', 'BOX-450', 'Geschenkbox', '1']], subj='Bestellung')
table_mail('t04_fr_reference_quantite', 'accepted', 'PEN-2001:1', [['Référence', 'Désignation', 'Quantité'], ['PEN-2001', 'Stylo', '1']], subj='Commande')
table_mail('t05_es_codigo_cantidad', 'accepted', 'INK-2002:5', [['Código', 'Cantidad'], ['INK-2002', '5']], subj='Pedido')
table_mail('t06_nl_artikelnummer_aantal', 'accepted', 'NOTE-777:2', [['Artikelnummer', 'Aantal'], ['NOTE-777', '2']], subj='Bestelling')
table_mail('t07_part_number_quantity_colon', 'accepted', 'ABC-124:1', [['Part number', 'Quantity:'], ['ABC-124', '1']])
table_mail('t08_row_missing_qty', 'review', 'ABC-123:1', [['SKU', 'Qty'], ['ABC-123', '1'], ['TEA-001', '']])
table_mail('t09_table_and_text_same_lines', 'accepted', 'ABC-123:2 TEA-001:4', [['SKU', 'Qty'], ['ABC-123', '2'], ['TEA-001', '4']],
           text='Hello, our order:\n\nSKU\tQty\nABC-123\t2\nTEA-001\t4\n\nThanks\n')
table_mail('t10_totals_price_columns', 'accepted', 'MUG-110:2 BOX-450:2', [['Item', 'Qty', 'Unit price', 'Total'], ['MUG-110', '2', '8.99', '17.98'],
           ['BOX-450', '2', '3.00', '6.00'], ['', '', 'Total', '23.98']])
table_mail('t11_ja_hinban_suryo', 'accepted', 'TEA-001:10', [['品番', '品名', '数量'], ['TEA-001', '緑茶', '１０']], subj='注文書')
table_mail('t12_ru_artikul_kolichestvo', 'accepted', 'ABC-123:3', [['Артикул', 'Наименование', 'Количество'], ['ABC-123', 'Виджет', '3']], subj='Заказ')
table_mail('t13_qty_with_unit_cells', 'accepted', 'ABC-123:2 TEA-002:1', [['Qty', 'SKU'], ['2 pcs', 'ABC-123'], ['1 pc', 'TEA-002']])
w('t14_csv_sep_line', 'table', 'accepted', 'TEA-001:2 MUG-110:1', mixed(H(subj='Bestellung', mid='t14@example.de'), textpart('Anbei die Bestellung.\n'),
  [attach('text/csv', 'bestellung.csv', '\ufeffsep=;\r\nArtikelnummer;Bezeichnung;Anzahl\r\nTEA-001;Grüntee;2\r\nMUG-110;Becher;1\r\n'.encode('utf-8'))]))
w('t15_csv_synonyms_quoted', 'table', 'accepted', 'PEN-2001:3 INK-2002:6', mixed(H(subj='PO 4711', mid='t15@example.com'), textpart('PO attached as CSV.\n'),
  [attach('text/csv', 'po-4711.csv', b'"Item No.","Description","Qty ordered"\n"PEN-2001","Fountain pen, black","3"\n"INK-2002","Ink","6"\n')]))
w('t16_gsheets_paste', 'table', 'accepted', 'ABC-123:1 NOTE-777:2', html_only(H(subj='Order', mid='t16@example.com'),
  '<div dir="ltr"><google-sheets-html-origin><table xmlns="http://www.w3.org/1999/xhtml" cellspacing="0" cellpadding="0" dir="ltr" border="1" '
  'style="table-layout:fixed;font-size:10pt"><colgroup><col width="100"><col width="100"></colgroup><tbody>'
  '<tr style="height:21px"><td style="overflow:hidden;padding:2px 3px">sku</td><td style="overflow:hidden">quantity</td></tr>'
  '<tr><td><span>ABC-123</span></td><td style="text-align:right">1</td></tr><tr><td>NOTE-777</td><td style="text-align:right">2</td></tr>'
  '</tbody></table></google-sheets-html-origin></div>'))

# ---------------------------------------------------------------- attachments
PDF = b'%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n'
XLSX = b'PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00' + b'[Content_Types].xml' + b'\x00' * 64
JPEG = b'\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00' + b'\x00' * 64 + b'\xff\xd9'
w('a01_pdf_purchase_order', 'attachment', 'review', '-', mixed(H(subj='Purchase Order 4711', mid='a01@example.com'),
  textpart('Dear Sir or Madam,\n\nplease find our purchase order attached.\n\nBest regards\n'), [attach('application/pdf', 'PO-4711.pdf', PDF)]), reason='PO-4711.pdf')
w('a02_xlsx_bestellung', 'attachment', 'review', '-', mixed(H(subj='Bestellung', mid='a02@example.de'), textpart('Anbei unsere Bestellung.\n'),
  [attach('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'Bestellung.xlsx', XLSX)]), reason='Bestellung.xlsx')
# A real workbook (written with excelize): a title row, a blank row, then
# the header row with German column names and a totals row.
w('a07_xlsx_bestellung_real', 'attachment', 'accepted', 'TEA-002:4 MUG-110:2', mixed(H(subj='Bestellung', mid='a07@example.de'),
  textpart('Anbei unsere Bestellung als Excel-Datei.\n'),
  [attach('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'Bestellung März.xlsx', open('bestellung.xlsx.bin', 'rb').read())]))
w('a03_photo_order', 'attachment', 'review', '-', mixed(H(subj='Order', mid='a03@example.com'), textpart('See photo, thanks!\n\nSent from my iPhone\n'),
  [attach('image/jpeg', 'IMG_4711.jpeg', JPEG)]))
w('a04_pdf_invoice_question', 'attachment', 'ignored', '-', mixed(H(subj='Question about invoice', mid='a04@example.com'),
  textpart('Hello, I attached your invoice. Why is shipping charged twice?\n'), [attach('application/pdf', 'invoice.pdf', PDF)]))
w('a05_oversized_photo', 'attachment', 'review', '-', mixed(H(subj='Order', mid='a05@example.com'), textpart('ABC-123 x 1\n'),
  [attach('image/jpeg', 'shelf.jpeg', JPEG + bytes(range(256)) * 1100)]), reason='too large')
w('a06_text_lines_plus_pdf', 'attachment', 'review', 'ABC-123:2', mixed(H(subj='Order', mid='a06@example.com'), textpart('ABC-123 x 2\nthe rest is in the PDF\n'),
  [attach('application/pdf', 'order-rest.pdf', PDF)]))

# ---------------------------------------------------------------- non-orders with SKU-shaped text
def nonorder(name, subj, text, outcome='ignored', parsed='-', **kw):
    w(name, 'nonorder', outcome, parsed, plain(H(frm='Dave Asker <dave@asker.example>', subj=subj, mid=name + '@asker.example'), text), **kw)
nonorder('x01_rj45_ports', 'Switch question', 'Hi, looking for a switch with\n24 x RJ-45 ports\n2 x SFP-1000 uplinks\nThanks, Dave\n')
nonorder('x02_win10_x64', 'Driver', 'Our setup:\nWin-10 x64\nOffice-2019 x 5 seats\nDoes the driver run there?\n')
nonorder('x03_xbox360_controllers', 'Gaming', 'I have\n2 xbox-360 controllers\nthat need repair. Do you do that?\n')
nonorder('x04_iso_certified', 'Supplier introduction', 'Dear purchasing team,\nISO-9001 * ISO-14001 certified\nwe would like to supply you.\n')
nonorder('x05_invoice_number', 'Invoice overdue', 'Our invoice INV-20260 is overdue since 3 weeks.\nRef. INV-20260 x 1 reminder\n')
nonorder('x06_usb_cable_question', 'Question', 'USB-3000 x 2 cables - do you sell them?\n')
nonorder('x07_where_is_my_order', 'Where is my order?', 'I ordered ABC-123 last week, where is it?\n', outcome='review')
nonorder('x08_ja_stock_inquiry', '在庫確認', 'ABC-123の在庫はありますか？\n')
nonorder('x09_room_numbers', 'Meeting', 'Meeting at 10 x Room B-204, then\n2 x CAD-2020 demo\n')

# ---------------------------------------------------------------- automatic mail
ORDERQ = 'ABC-123 x 2\nTEA-001 x 1\n'
def auto(name, hdr, body, outcome='ignored', parsed='-', **kw):
    w(name, 'auto', outcome, parsed, hdr + body, **kw)
auto('y01_outlook_ooo', H(frm='Alice Buyer <alice@example.com>', subj='Automatic reply: Order', mid='y01@example.com',
  extra='Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\n'), textpart('I am out of the office until Monday.\n\n' + ORDERQ), reason='Auto-Submitted')
auto('y02_exchange_oof_de', H(frm='Alice Buyer <alice@example.com>', subj='Abwesenheitsnotiz: Order', mid='y02@example.de',
  extra='Auto-Submitted: auto-generated\nX-MS-Exchange-Inbox-Rules-Loop: alice@example.com\n'), textpart('Ich bin bis 9.3. nicht im Büro.\n'))
auto('y03_bounce_report', H(frm='Mail Delivery System <MAILER-DAEMON@mx.example.com>', subj='Undelivered Mail Returned to Sender', mid='y03@mx.example.com'),
  'Content-Type: multipart/report; report-type=delivery-status; boundary="rep"\n\n--rep\nContent-Type: text/plain\n\nThis is the mail system.\n\n'
  '--rep\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\nAction: failed\nStatus: 5.1.1\n\n'
  '--rep\nContent-Type: message/rfc822\n\nFrom: orders@shop.example\nSubject: Order\n\n' + ORDERQ + '\n--rep--\n', reason='MAILER-DAEMON')
auto('y04_read_receipt', H(frm='Alice Buyer <alice@example.com>', subj='Read: Order', mid='y04@example.com'),
  'Content-Type: multipart/report; report-type=disposition-notification; boundary="mdn"\n\n--mdn\nContent-Type: text/plain\n\n'
  'Your message was read.\n' + ORDERQ + '\n--mdn\nContent-Type: message/disposition-notification\n\nDisposition: manual-action/MDN-sent-manually; displayed\n\n--mdn--\n', reason='multipart/report')
auto('y05_mailing_list', H(frm='Bob <bob@customer.example>', subj='[shop-users] my order', mid='y05@lists.example',
  extra='List-Id: Shop users <shop-users.lists.example>\nList-Unsubscribe: <mailto:leave@lists.example>\n'), textpart('I ordered:\n' + ORDERQ), reason='List-Id')
auto('y06_precedence_bulk', H(frm='Deals <deals@other.example>', subj='Special offer', mid='y06@other.example', extra='Precedence: bulk\n'),
  textpart('Special: 2 x ABC-123 for the price of one!\n'), reason='Precedence')
auto('y07_null_sender', 'Return-Path: <>\n' + H(frm='postmaster@mx.example.com', subj='Delivery Status Notification', mid='y07@mx.example.com'),
  textpart('Delivery to the following recipients failed.\n\n' + ORDERQ))
auto('y08_gmail_vacation', H(frm='Alice Buyer <alice@example.com>', subj='Re: Your order', mid='y08@mail.gmail.com', extra='Auto-Submitted: auto-replied\n'),
  textpart('On vacation.\n'))
auto('y09_precedence_junk', H(frm='X <x@spam.example>', subj='Order', mid='y09@spam.example', extra='Precedence: junk\n'), textpart(ORDERQ))
auto('y10_auto_submitted_no', H(frm='Alice Buyer <alice@example.com>', subj='Order', mid='y10@example.com', extra='Auto-Submitted: no\n'),
  textpart(ORDERQ), outcome='accepted', parsed='ABC-123:2 TEA-001:1')
auto('y11_own_confirmation_echo', H(frm='Shop <orders@shop.example>', subj='Order confirmed: Order', mid='y11@shop.example', extra='Auto-Submitted: auto-replied\n'),
  textpart('thank you, we have accepted your order:\n\n  ABC-123    Blue widget   2 x 12.50 EUR = 25.00 EUR\n'))

with open('golden.txt', 'w') as f:
    f.write('# Expected outcome per corpus mail; written by gen_corpus.py.\n# name\tcategory\toutcome\tlines\t[key=value ...]\n')
    f.write('\n'.join(GOLDEN) + '\n')
print(len(GOLDEN), 'mails')
