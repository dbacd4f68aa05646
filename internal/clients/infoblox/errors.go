package infoblox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// A Reason classifies a WAPI failure. Reasons are short CamelCase words,
// fit for condition reasons.
type Reason string

// Failure reasons.
const (
	// ReasonAuth: the grid rejected the credentials (401) or the user's
	// permissions (403). Retrying soon will not help.
	ReasonAuth Reason = "AuthenticationFailed"
	// ReasonNotFound: the object (or a network, range or view) does not exist.
	ReasonNotFound Reason = "NotFound"
	// ReasonExhausted: no free address is left where one was asked for.
	ReasonExhausted Reason = "NoFreeAddress"
	// ReasonConflict: the address (or name, or MAC) is taken.
	ReasonConflict Reason = "Conflict"
	// ReasonInvalid: WAPI refused the request as malformed.
	ReasonInvalid Reason = "InvalidRequest"
	// ReasonUnavailable: a 5xx, a timeout or a connection failure; retrying
	// later may succeed.
	ReasonUnavailable Reason = "Unavailable"
	// ReasonTLS: the grid's certificate could not be verified.
	ReasonTLS Reason = "TLSVerificationFailed"
	// ReasonUnknown: anything else.
	ReasonUnknown Reason = "Unknown"
)

// An Error is a failed WAPI request. Its message never holds credentials:
// requests carry them in a header only, and neither the URL nor NIOS's
// answer repeats them.
type Error struct {
	Reason Reason
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// Code is NIOS's error code, e.g. Client.Ibap.Data.Conflict.
	Code string
	// Text is NIOS's error text, or a summary.
	Text string
	err  error
}

func (e *Error) Error() string {
	switch {
	case e.Reason == ReasonAuth && e.Status == http.StatusUnauthorized:
		return "authentication failed: the grid rejected the username or password (HTTP 401)"
	case e.Reason == ReasonAuth:
		return fmt.Sprintf("permission denied: the WAPI user may not do this (HTTP %d)", e.Status)
	case e.Status == 0:
		return fmt.Sprintf("%s: %s", e.Reason, e.Text)
	case e.Code != "":
		return fmt.Sprintf("%s: %s (HTTP %d, %s)", e.Reason, e.Text, e.Status, e.Code)
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Reason, e.Text, e.Status)
}

func (e *Error) Unwrap() error { return e.err }

// ReasonOf classifies err; ReasonUnknown when it is not a WAPI error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if err == nil {
		return ""
	}
	return ReasonUnknown
}

// IsNotFound reports whether err says the object does not exist.
func IsNotFound(err error) bool { return ReasonOf(err) == ReasonNotFound }

// Transient reports whether retrying later may succeed.
func Transient(err error) bool { return ReasonOf(err) == ReasonUnavailable }

// niosError is the body of a NIOS error answer.
type niosError struct {
	Error string `json:"Error"`
	Code  string `json:"code"`
	Text  string `json:"text"`
}

// maxErrorText bounds the text kept from an error answer.
const maxErrorText = 300

// classifyHTTP turns an error answer into an Error.
func classifyHTTP(status int, body []byte) *Error {
	e := &Error{Status: status}
	var ne niosError
	if json.Unmarshal(body, &ne) == nil && (ne.Code != "" || ne.Text != "" || ne.Error != "") {
		e.Code, e.Text = ne.Code, ne.Text
		if e.Text == "" {
			e.Text = ne.Error
		}
	} else {
		e.Text = http.StatusText(status)
	}
	if len(e.Text) > maxErrorText {
		e.Text = e.Text[:maxErrorText] + "..."
	}
	e.Reason = reasonFor(status, e.Code, e.Text)
	return e
}

func reasonFor(status int, code, text string) Reason {
	lower := strings.ToLower(text)
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ReasonAuth
	case strings.Contains(lower, "cannot find") && strings.Contains(lower, "available ip address"):
		return ReasonExhausted
	case status == http.StatusNotFound, strings.HasPrefix(code, "Client.Ibap.Data.NotFound"),
		strings.Contains(lower, "cannot find a network"), strings.Contains(lower, "cannot find a range"):
		return ReasonNotFound
	case strings.HasPrefix(code, "Client.Ibap.Data.Conflict"):
		return ReasonConflict
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return ReasonUnavailable
	case strings.HasPrefix(code, "Client.Ibap.Proto"), strings.HasPrefix(code, "Client.Ibap.Data"), status == http.StatusBadRequest:
		return ReasonInvalid
	}
	return ReasonUnknown
}

// classifyTransport turns an error of the HTTP client (no answer) into an
// Error.
func classifyTransport(err error) *Error {
	e := &Error{Reason: ReasonUnavailable, Text: transportText(err), err: err}
	if isCertError(err) {
		e.Reason = ReasonTLS
	}
	return e
}

func isCertError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "x509:") || strings.Contains(s, "tls: failed to verify certificate")
}

func transportText(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "the request timed out"
	case errors.Is(err, context.Canceled):
		return "the request was canceled"
	case isCertError(err):
		return "cannot verify the grid's TLS certificate: " + lastPart(err)
	}
	return "no answer from the grid: " + lastPart(err)
}

// lastPart drops the method and URL that net/http puts in front of a
// transport error: they are noise in a condition (and, although they never
// hold credentials here, short messages are safer).
func lastPart(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "\": "); i >= 0 {
		s = s[i+3:]
	}
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "..."
	}
	return s
}
