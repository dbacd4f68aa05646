package wapisim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// A WAPI reference is "objtype/refdata:name". refdata is base64 (no
// padding) of an internal key such as "dns.fixed_address$192.0.2.10.0..";
// the name part is informational. Like NIOS, the emulator resolves a
// reference by objtype and refdata only, so a stale name part still works
// while a changed key (e.g. a fixed address moved to another IP) does not.

// makeRef builds the reference of a stored or synthesized object.
func makeRef(r record) string {
	return r.kind().name + "/" + encodeRefData(r.key()) + ":" + r.refName()
}

// encodeRefData encodes an internal key. Keys made only of the characters
// below encode to [A-Za-z0-9] alone, which matters because the client
// parses references with `\w+`. Keys containing anything else (user
// supplied names) are replaced by a digest so the encoding stays in that
// alphabet and unique.
func encodeRefData(key string) string {
	for i := 0; i < len(key); i++ {
		if !safeKeyByte(key[i]) {
			sum := sha256.Sum256([]byte(key))
			prefix, _, _ := strings.Cut(key, "$")
			key = prefix + "$" + hex.EncodeToString(sum[:16])
			break
		}
	}
	return base64.RawStdEncoding.EncodeToString([]byte(key))
}

func safeKeyByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte(".$/:_-% ", c) >= 0
}

// decodeRefData reverses encodeRefData for keys that were not digested.
func decodeRefData(data string) (string, bool) {
	b, err := base64.RawStdEncoding.DecodeString(data)
	return string(b), err == nil
}

// splitRef splits "objtype/refdata:name" into objtype and refdata.
func splitRef(ref string) (objType, data string, ok bool) {
	objType, rest, ok := strings.Cut(ref, "/")
	if !ok {
		return "", "", false
	}
	data, _, _ = strings.Cut(rest, ":")
	return objType, data, data != ""
}

// escapeName escapes colons the way NIOS does in the name part of
// references to IPv6 objects.
func escapeName(s string) string { return strings.ReplaceAll(s, ":", "%3A") }
