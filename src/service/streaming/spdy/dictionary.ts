// The SPDY/3 header-compression dictionary (SPDY Protocol draft 3, section
// 2.6.10.1). Both zlib contexts of a connection are primed
// with it, so a peer that uses a different byte anywhere fails to inflate our
// very first header block; the unit test pins it with a sha256 of the bytes in
// spdystream's dictionary.go.
//
// The spec builds it from two parts, kept in that form here so it can be read
// against the spec: header names and common values, each preceded by its
// 32-bit big-endian length, then a run of status codes, status texts, date
// parts and content types concatenated without lengths.

const LENGTH_PREFIXED: readonly string[] = [
  "options",
  "head",
  "post",
  "put",
  "delete",
  "trace",
  "accept",
  "accept-charset",
  "accept-encoding",
  "accept-language",
  "accept-ranges",
  "age",
  "allow",
  "authorization",
  "cache-control",
  "connection",
  "content-base",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-md5",
  "content-range",
  "content-type",
  "date",
  "etag",
  "expect",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "pragma",
  "proxy-authenticate",
  "proxy-authorization",
  "range",
  "referer",
  "retry-after",
  "server",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "user-agent",
  "vary",
  "via",
  "warning",
  "www-authenticate",
  "method",
  "get",
  "status",
  "200 OK",
  "version",
  "HTTP/1.1",
  "url",
  "public",
  "set-cookie",
  "keep-alive",
  "origin",
];

const CONCATENATED: readonly string[] = [
  "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
  "203 Non-Authoritative Information",
  "204 No Content",
  "301 Moved Permanently",
  "400 Bad Request",
  "401 Unauthorized",
  "403 Forbidden",
  "404 Not Found",
  "500 Internal Server Error",
  "501 Not Implemented",
  "503 Service Unavailable",
  "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
  "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,public",
  "private",
  "max-age=",
  "gzip,deflate,sdch",
  "charset=utf-8",
  "charset=iso-8859-1,utf-,*,enq=0.",
];

function build(): Buffer {
  const parts: Buffer[] = [];
  for (const word of LENGTH_PREFIXED) {
    const text = Buffer.from(word, "latin1");
    const len = Buffer.alloc(4);
    len.writeUInt32BE(text.length);
    parts.push(len, text);
  }
  parts.push(Buffer.from(CONCATENATED.join(""), "latin1"));
  return Buffer.concat(parts);
}

/** The zlib dictionary for SPDY/3 header blocks (1423 bytes). */
export const SPDY3_DICTIONARY: Buffer = build();
