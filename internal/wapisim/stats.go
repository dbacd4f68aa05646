package wapisim

import (
	"maps"
	"strings"
	"sync"
)

// RequestKey identifies requests by HTTP method and WAPI object type (the
// type named by the path or reference, e.g. "fixedaddress" or
// "record:host").
type RequestKey struct {
	Method string
	Object string
}

// stats counts every WAPI request that reaches the server, including ones
// that faults or failed authentication cut short, so that counts are
// round trips.
type stats struct {
	mu     sync.Mutex
	counts map[RequestKey]int
}

func (st *stats) add(method, object string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.counts == nil {
		st.counts = map[RequestKey]int{}
	}
	st.counts[RequestKey{method, object}]++
}

// RequestCount returns how many requests with this method and object type
// the server received; "" matches any method or object.
func (s *Server) RequestCount(method, object string) int {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	n := 0
	for k, c := range s.stats.counts {
		if (method == "" || strings.EqualFold(method, k.Method)) && (object == "" || object == k.Object) {
			n += c
		}
	}
	return n
}

// RequestCounts returns a copy of all request counts.
func (s *Server) RequestCounts() map[RequestKey]int {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return maps.Clone(s.stats.counts)
}

// ResetRequestCounts sets all request counts to zero.
func (s *Server) ResetRequestCounts() {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	s.stats.counts = nil
}
