package wapisim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// result is the response to one WAPI request.
type result struct {
	status int
	body   []byte
	ctype  string
}

const jsonContentType = "application/json"

// handle executes one WAPI request against the state. rest is the path
// after "/wapi/v<version>/".
func (s *Server) handle(method, rest string, q url.Values, raw []byte) result {
	s.mu.Lock()
	v, status, err := s.dispatch(method, rest, q, raw)
	s.mu.Unlock()
	if err != nil {
		var we *wapiError
		if !errors.As(err, &we) {
			we = &wapiError{http.StatusInternalServerError, "AdmConError: " + err.Error(), "Server", err.Error()}
		}
		return result{status: we.status, body: we.body(), ctype: jsonContentType}
	}
	if v == nil {
		return result{status: status}
	}
	if q.Get("_return_as_object") == "1" {
		v = map[string]any{"result": v}
	}
	b, err := marshalJSON(v, "    ")
	if err != nil {
		we := &wapiError{http.StatusInternalServerError, "AdmConError: " + err.Error(), "Server", err.Error()}
		return result{status: we.status, body: we.body(), ctype: jsonContentType}
	}
	return result{status: status, body: b, ctype: jsonContentType}
}

func (s *Server) dispatch(method, rest string, q url.Values, raw []byte) (any, int, error) {
	d := s.db
	if rest == "logout" && method == http.MethodPost {
		return nil, http.StatusOK, nil // the emulator keeps no sessions
	}
	if err := checkControlArgs(q); err != nil {
		return nil, 0, err
	}
	objType, _, isRef := strings.Cut(rest, "/")
	k, ok := kinds[objType]
	if !ok {
		return nil, 0, protoErr("Unknown object type (%s)", objType)
	}
	fn := q.Get("_function")
	switch method {
	case http.MethodGet:
		if fn != "" {
			return nil, 0, protoErr("Function %s illegal with this method", fn)
		}
		if !isRef {
			v, err := d.search(k, q)
			return v, http.StatusOK, err
		}
		r, err := d.lookup(rest)
		if err != nil {
			return nil, 0, err
		}
		fields, err := returnFields(k, q)
		if err != nil {
			return nil, 0, err
		}
		return render(r, fields), http.StatusOK, nil

	case http.MethodPost:
		if isRef {
			return s.callFunction(rest, fn, q, raw)
		}
		if fn != "" {
			return nil, 0, protoErr("Function %s requires an object reference", fn)
		}
		if err := noFieldArgs(q); err != nil {
			return nil, 0, err
		}
		b, err := decodeBody(raw)
		if err != nil {
			return nil, 0, err
		}
		r, err := d.add(k, b)
		if err != nil {
			return nil, 0, err
		}
		v, err := writeResult(r, q)
		return v, http.StatusCreated, err

	case http.MethodPut:
		if !isRef {
			return nil, 0, protoErr("Method PUT requires an object reference")
		}
		if err := noFieldArgs(q); err != nil {
			return nil, 0, err
		}
		r, err := d.lookup(rest)
		if err != nil {
			return nil, 0, err
		}
		b, err := decodeBody(raw)
		if err != nil {
			return nil, 0, err
		}
		updated, err := d.update(r, b)
		if err != nil {
			return nil, 0, err
		}
		d.replace(r, updated)
		v, err := writeResult(updated, q)
		return v, http.StatusOK, err

	case http.MethodDelete:
		if !isRef {
			return nil, 0, protoErr("Method DELETE requires an object reference")
		}
		if err := noFieldArgs(q); err != nil {
			return nil, 0, err
		}
		r, err := d.lookup(rest)
		if err != nil {
			return nil, 0, err
		}
		if err := d.delete(r); err != nil {
			return nil, 0, err
		}
		return makeRef(r), http.StatusOK, nil
	}
	return nil, 0, protoErr("Unsupported method %s", method)
}

// callFunction implements POST objref?_function=name. Function arguments
// may come in the body, in the query, or both.
func (s *Server) callFunction(ref, fn string, q url.Values, raw []byte) (any, int, error) {
	if fn == "" {
		return nil, 0, protoErr("Method POST requires _function for an object reference")
	}
	r, err := s.db.lookup(ref)
	if err != nil {
		return nil, 0, err
	}
	if fn != "next_available_ip" {
		return nil, 0, protoErr("Function %s is not supported by the emulator", fn)
	}
	args, err := decodeBody(raw)
	if err != nil {
		return nil, 0, err
	}
	for key, vals := range q {
		if strings.HasPrefix(key, "_") {
			continue
		}
		l := make([]any, 0, len(vals))
		for _, v := range splitList(vals) {
			l = append(l, v)
		}
		args[key] = l
	}
	v, err := s.db.callNextAvailableIP(r, args)
	return v, http.StatusOK, err
}

// writeResult is what POST and PUT answer: the reference, or the object
// when return fields were asked for.
func writeResult(r record, q url.Values) (any, error) {
	if !q.Has("_return_fields") && !q.Has("_return_fields+") {
		return makeRef(r), nil
	}
	fields, err := returnFields(r.kind(), q)
	if err != nil {
		return nil, err
	}
	return render(r, fields), nil
}

// noFieldArgs rejects field values in the query of a write; the emulator
// only takes them from the body.
func noFieldArgs(q url.Values) error {
	for key := range q {
		if !strings.HasPrefix(key, "_") {
			return protoErr("Unknown argument/field: '%s'", key)
		}
	}
	return nil
}

func decodeBody(raw []byte) (body, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return body{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b map[string]any
	if err := dec.Decode(&b); err != nil || b == nil {
		msg := "expected a JSON object"
		if err != nil {
			msg = err.Error()
		}
		return nil, &wapiError{http.StatusBadRequest, "AdmConProtoError: JSON Decoding: " + msg,
			"Client.Ibap.Proto.JSONDecoding", "JSON Decoding: " + msg}
	}
	return b, nil
}
