package wapisim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// wapiError is an error in the shape NIOS returns it: an HTTP status plus
// the "Error", "code" and "text" members of the JSON error body.
type wapiError struct {
	status int
	errStr string // the "Error" member, e.g. "AdmConProtoError: ..."
	code   string
	text   string
}

func (e *wapiError) Error() string { return e.errStr }

// protoErr is a request the appliance cannot parse or does not allow
// (unknown field, bad value, unsupported argument).
func protoErr(format string, args ...any) *wapiError {
	text := fmt.Sprintf(format, args...)
	return &wapiError{http.StatusBadRequest, "AdmConProtoError: " + text, "Client.Ibap.Proto", text}
}

// notFound is a reference or named object that does not exist.
func notFound(format string, args ...any) *wapiError {
	text := fmt.Sprintf(format, args...)
	return &wapiError{http.StatusNotFound, "AdmConDataNotFoundError: " + text, "Client.Ibap.Data.NotFound", text}
}

// conflict is a well-formed request that clashes with existing data.
func conflict(format string, args ...any) *wapiError {
	text := fmt.Sprintf(format, args...)
	return &wapiError{http.StatusBadRequest,
		"AdmConDataError: None (IBDataConflictError: IB.Data.Conflict:" + text + ")",
		"Client.Ibap.Data.Conflict", text}
}

// dataErr is a well-formed request the data cannot satisfy, such as an
// exhausted network.
func dataErr(format string, args ...any) *wapiError {
	text := fmt.Sprintf(format, args...)
	return &wapiError{http.StatusBadRequest,
		"AdmConDataError: None (IBDataError: IB.Data:" + text + ")",
		"Client.Ibap.Data", text}
}

// body renders the error exactly as NIOS lays it out, including its
// idiosyncratic indentation, so that clients matching on the raw text see
// what they would see against a grid.
func (e *wapiError) body() []byte {
	q := func(s string) []byte {
		b, _ := marshalJSON(s, "") // marshalling a string cannot fail
		return b
	}
	return fmt.Appendf(nil, "{ \"Error\": %s, \n  \"code\": %s, \n  \"text\": %s\n}",
		q(e.errStr), q(e.code), q(e.text))
}

// marshalJSON encodes like NIOS: indented when indent is set, and without
// escaping <, > and & the way json.Marshal does for HTML.
func marshalJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// authRealm and authPage are what the NIOS web server answers to missing
// or wrong credentials: a plain Apache 401 page, not a WAPI JSON error.
const (
	authRealm = `Basic realm="InfoBlox ONE Platform"`
	authPage  = `<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>401 Authorization Required</title>
</head><body>
<h1>Authorization Required</h1>
<p>This server could not verify that you
are authorized to access the document
requested.  Either you supplied the wrong
credentials (e.g., bad password), or your
browser doesn't understand how to supply
the credentials required.</p>
</body></html>
`
)

func writeAuthFailure(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", authRealm)
	w.Header().Set("Content-Type", "text/html; charset=iso-8859-1")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte(authPage))
}
