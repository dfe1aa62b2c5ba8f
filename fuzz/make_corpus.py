#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/: small real inputs of every shape the
parsers accept (the test fixtures, the providers' documented payloads, signed with the
harness' secret as the server would receive them). The fuzzer adds what it finds to these
folders; run this again only to reset the seeds. Inputs that carry a header hold it on their
first line (see fuzz/src/lib.rs)."""
import base64
import hashlib
import hmac
import io
import json
import os
import shutil
import zipfile
import zlib
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SECRET = b"fuzz-secret-0123456789abcdef"  # fuzz/src/lib.rs SECRET
TWILIO_URL = "https://agent.example.test/api/v1/channels/ch_fuzz/twilio/messages"
NOW = 1_770_000_000  # fuzz/src/lib.rs NOW_SECS


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def fixture(*path):
    with open(os.path.join(FIXTURES, *path), "rb") as f:
        return f.read()


# --- PDF -------------------------------------------------------------------------------
def pdf(pages, compress=False):
    """A PDF with one Helvetica text page per entry of `pages`, with a correct xref."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None,
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        lines = "".join(f"({line}) Tj 0 -16 Td " for line in text.split("\n"))
        stream = f"BT /F1 12 Tf 72 720 Td {lines}ET".encode()
        if compress:
            stream = zlib.compress(stream)
            head = f"<< /Length {len(stream)} /Filter /FlateDecode >>"
        else:
            head = f"<< /Length {len(stream)} >>"
        objects.append((head.encode() + b"\nstream\n" + stream + b"\nendstream"))
        content = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>")
        kids.append(len(objects))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        body = obj if isinstance(obj, bytes) else obj.encode()
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


write("pdf_extract", "warranty.pdf", fixture("knowledge", "warranty.pdf"))
write("pdf_extract", "two-pages.pdf", pdf(["Shipping\nParcels leave in 2 days.", "Returns\nWithin 30 days."]))
write("pdf_extract", "flate.pdf", pdf(["Compressed page: the warranty lasts two years."], compress=True))

# --- HTML ------------------------------------------------------------------------------
write("html_extract", "help-centre.html", fixture("knowledge", "help-centre.html"))
write("html_extract", "article.html", """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Shipping &amp; delivery</title><style>body{color:red}</style></head><body>
<header><nav><a href="/">Home</a> <a href="/faq">FAQ</a></nav></header>
<main><article><h1>Shipping &amp; delivery</h1><p>Orders ship within <b>2&nbsp;days</b>.</p>
<h2>Countries</h2><ul><li>Germany</li><li>Norway &mdash; 5 days</li></ul>
<table><tr><th>Zone</th><th>Price</th></tr><tr><td>EU</td><td>&euro;4.90</td></tr></table>
<div hidden>secret</div><p style="display:none">hidden</p><br><pre>code  block</pre>
</article></main><aside>Related</aside><footer>&copy; 2026</footer>
<script>alert(1)</script><form><input name=q></form></body></html>""")
write("html_extract", "bare.html", "<p>Plain paragraph<p>Unclosed <i>tags<h3>Heading</h3> &#x263A; &#9731; &unknown;")
write("html_extract", "role-main.html", '<body><div role="main"><h4>Sizes</h4><ol><li>S<li>M</ol></div><noscript>x</noscript></body>')

# --- DOCX ------------------------------------------------------------------------------
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx(body, method=zipfile.ZIP_DEFLATED):
    document = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document {W}><w:body>{body}<w:sectPr/></w:body></w:document>'
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        z.writestr("word/document.xml", document)
    return buf.getvalue()


write("docx", "returns-policy.docx", fixture("knowledge", "returns-policy.docx"))
write("docx", "stored.docx", docx('<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Care</w:t></w:r></w:p>'
                                   '<w:p><w:r><w:t>Wash cold.</w:t><w:tab/><w:t>Dry flat.</w:t><w:br/></w:r></w:p>',
                                   zipfile.ZIP_STORED))
write("docx", "links-and-insertions.docx", docx(
    '<w:p><w:pPr><w:pStyle w:val="heading 3"/></w:pPr><w:hyperlink><w:r><w:t>Sizes</w:t></w:r></w:hyperlink></w:p>'
    '<w:p><w:ins><w:r><w:t>Added text</w:t></w:r></w:ins><w:del><w:r><w:delText>gone</w:delText></w:r></w:del></w:p>'))

# --- product rows (CSV and JSON) -------------------------------------------------------
write("product_rows", "products.csv", fixture("knowledge", "products.csv"))
write("product_rows", "faq.json", fixture("knowledge", "faq.json"))
write("product_rows", "quoted.csv", '\ufeffsku;name\n"ST-1","Boot, ""Summit"""\n,\nST-2,"multi\nline",extra\n')
write("product_rows", "products.json", json.dumps({"products": [
    {"sku": "ST-100", "name": "Trail Runner X", "price": 129.9, "sizes": [38, 46], "stock": None},
    {"id": 7, "in_stock": True, "meta": {"colour": "green"}}]}))
write("product_rows", "rows.json", json.dumps([{"title": "Gift card", "value": 1e15}, {"product": "Sock"}]))
write("product_rows", "text.json", json.dumps({"title": "Opening hours", "text": "Mon-Fri 9-17.\nSat 10-14."}))
write("product_rows", "faqs-wrapped.json", json.dumps({"faqs": [{"question": "Gift cards?", "answer": "Yes."}]}))

# --- Twilio ----------------------------------------------------------------------------
def twilio(params, forged=False):
    data = TWILIO_URL + "".join(k + v for k, v in sorted(params))
    sig = base64.b64encode(hmac.new(SECRET, data.encode(), hashlib.sha1).digest()).decode()
    if forged:
        sig = sig[::-1]
    return sig + "\n" + urlencode(params)


SMS = [("ToCountry", "US"), ("SmsMessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"), ("NumMedia", "0"),
       ("Body", "Where is my order #1042?"), ("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
       ("From", "+14155550100"), ("To", "+14155550199"), ("ApiVersion", "2010-04-01")]
WHATSAPP = [("MessageSid", "SM2a"), ("From", "whatsapp:+14155550100"), ("To", "whatsapp:+14155550199"),
            ("Body", "Photo of the box"), ("ProfileName", "Dana"), ("NumMedia", "2"),
            ("MediaUrl0", "https://media.example.test/1"), ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://media.example.test/2")]
write("twilio_form", "sms.txt", twilio(SMS))
write("twilio_form", "whatsapp-media.txt", twilio(WHATSAPP))
write("twilio_form", "forged.txt", twilio(SMS, forged=True))
write("twilio_form", "voice-gather.txt", twilio([("CallSid", "CA1"), ("SpeechResult", "I want a refund"),
                                                 ("Confidence", "0.92"), ("From", "+14155550100")]))

# --- Meta ------------------------------------------------------------------------------
def meta(body, forged=False):
    raw = json.dumps(body, separators=(",", ":")) if not isinstance(body, bytes) else body
    raw = raw.encode() if isinstance(raw, str) else raw
    sig = "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
    if forged:
        sig = "sha256=" + "0" * 64
    return sig.encode() + b"\n" + raw


for name in os.listdir(os.path.join(FIXTURES, "channels")):
    raw = fixture("channels", name)
    write("meta_payload", name, meta(json.loads(raw)))


def wa(message):
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}],
        "messages": [dict({"from": "16505551234", "id": "wamid.X", "timestamp": "1749416390"}, **message)]}}]}]}


write("meta_payload", "wa-button-reply.json", meta(wa({"type": "interactive", "context": {"id": "wamid.OUT1"},
                                                      "interactive": {"type": "button_reply", "button_reply": {"id": "c-2", "title": "Exchange"}}})))
write("meta_payload", "wa-list-reply.json", meta(wa({"type": "interactive", "interactive": {"type": "list_reply",
                                                    "list_reply": {"id": "row-1", "title": "Refund", "description": "Money back"}}})))
write("meta_payload", "wa-template-button.json", meta(wa({"type": "button", "button": {"text": "Track", "payload": "track"}})))
write("meta_payload", "wa-location.json", meta(wa({"type": "location", "location": {"latitude": 52.52, "longitude": 13.405,
                                                                                    "name": "Store", "address": "Berlin"}})))
write("meta_payload", "wa-audio.json", meta(wa({"type": "audio", "audio": {"mime_type": "audio/ogg; codecs=opus", "id": "42"}})))
ig = {"object": "instagram", "entry": [{"id": "178", "time": 1, "messaging": [
    {"sender": {"id": "125"}, "recipient": {"id": "178"}, "timestamp": 1,
     "postback": {"mid": "m1", "title": "Talk to a human", "payload": "HUMAN"}},
    {"sender": {"id": "125"}, "recipient": {"id": "178"}, "timestamp": 2,
     "message": {"mid": "m2", "text": "Size M", "quick_reply": {"payload": "SIZE_M"}}},
    {"sender": {"id": "125"}, "recipient": {"id": "178"}, "timestamp": 3,
     "message": {"mid": "m3", "attachments": [{"type": "image", "payload": {"url": "https://cdn.example.test/i.jpg"}}]}}],
    "changes": [{"field": "messages", "value": {"sender": {"id": "125"}, "recipient": {"id": "178"},
                                                "message": {"mid": "m4", "text": "via changes"}}}]}]}
write("meta_payload", "ig-mixed.json", meta(ig))
write("meta_payload", "forged.json", meta(wa({"type": "text", "text": {"body": "hi"}}), forged=True))

# --- Mailgun ---------------------------------------------------------------------------
def mailgun(fields, timestamp=NOW, token="e0b5477167110d68991efc6b9f89f0a11066af27834600e123", forged=False):
    sig = hmac.new(SECRET, f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    if forged:
        sig = "f" * 64
    return urlencode(fields + [("timestamp", str(timestamp)), ("token", token), ("signature", sig)])


EMAIL = [("sender", "dana@customer.example"), ("from", '"Dana Smith" <Dana@Customer.example>'),
         ("recipient", "support@shop.example, sales@shop.example"), ("subject", "Re: Order 1042"),
         ("body-plain", "Where is it?\n\n> On Monday you wrote:\n> hello"), ("stripped-text", "Where is it?"),
         ("Message-Id", "<CAF=abc@mail.customer.example>"), ("In-Reply-To", "<reply-1@shop.example>"),
         ("References", "<root@shop.example> <reply-1@shop.example>"), ("attachment-count", "0")]
write("mailgun_form", "reply.txt", mailgun(EMAIL))
write("mailgun_form", "subject-only.txt", mailgun([("from", "x@y.example"), ("recipient", "s@shop.example"),
                                                   ("subject", "Opening hours?"), ("Message-Id", "<1@y.example>")]))
write("mailgun_form", "stale.txt", mailgun(EMAIL, timestamp=NOW - 3600))
write("mailgun_form", "forged.txt", mailgun(EMAIL, forged=True))

# --- multipart knowledge upload --------------------------------------------------------
def multipart(parts, boundary="----blaigentFuzzBoundary7MA4YWxk"):
    out = f"multipart/form-data; boundary={boundary}\n".encode()
    for name, filename, ctype, data in parts:
        out += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"".encode()
        if filename is not None:
            out += f'; filename="{filename}"'.encode()
        out += b"\r\n"
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + (data.encode() if isinstance(data, str) else data) + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


write("multipart_upload", "csv-upload.txt", multipart([
    ("file", "products.csv", "text/csv", fixture("knowledge", "products.csv")),
    ("title", None, None, "Catalogue"), ("tags", None, None, '["shoes","2026"]'),
    ("metadata", None, None, '{"source": "erp"}')]))
write("multipart_upload", "markdown-upload.txt", multipart([
    ("tags", None, None, "returns, policy"), ("file", "returns.md", "application/octet-stream", fixture("knowledge", "returns.md"))],
    boundary="X"))
write("multipart_upload", "no-file.txt", multipart([("title", None, None, "Only a title")]))
write("multipart_upload", "bad-metadata.txt", multipart([("file", "a.txt", "text/plain", "hello"), ("metadata", None, None, "[1,")]))
print("corpus written under", os.path.join(HERE, "corpus"))
