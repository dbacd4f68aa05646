package wapisim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// FaultKind is what an injected fault does to the requests it matches.
type FaultKind int

const (
	// FaultLatency delays the request by Fault.Delay before it is
	// processed. It combines with any other fault matching the request.
	FaultLatency FaultKind = iota + 1
	// FaultStatus answers with Fault.Status (503 if unset) without
	// processing the request.
	FaultStatus
	// FaultDrop closes the connection without processing the request or
	// answering it.
	FaultDrop
	// FaultAuth answers 401, as for wrong credentials.
	FaultAuth
	// FaultLoseResponse processes the request, then closes the connection
	// without answering: the change is made but the client never learns it.
	FaultLoseResponse
)

func (k FaultKind) String() string {
	switch k {
	case FaultLatency:
		return "latency"
	case FaultStatus:
		return "status"
	case FaultDrop:
		return "drop"
	case FaultAuth:
		return "auth"
	case FaultLoseResponse:
		return "lose-response"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault describes an injected fault. The zero Method and Object match any
// request; Count and Probability limit how often the fault fires.
type Fault struct {
	Kind FaultKind
	// Method is an HTTP method such as "POST"; "" matches any.
	Method string
	// Object is a WAPI object type such as "fixedaddress" or
	// "record:host"; "" matches any.
	Object string
	// Count is the number of matching requests the fault fires for;
	// 0 means no limit.
	Count int
	// Probability is the fraction of matching requests the fault fires
	// for; 0 means all of them.
	Probability float64
	// Status is the HTTP status of a FaultStatus fault.
	Status int
	// Delay is the added latency of a FaultLatency fault.
	Delay time.Duration
}

// FaultID identifies an injected fault.
type FaultID int

type activeFault struct {
	id        FaultID
	f         Fault
	remaining int // -1 means unlimited
	hits      int
}

// faultSet holds the injected faults. It has its own lock so that faults
// can be changed while requests are in flight.
type faultSet struct {
	mu     sync.Mutex
	nextID FaultID
	faults []*activeFault
	rnd    *rand.Rand
}

// action is what the faults decided for one request.
type action struct {
	delay time.Duration
	kind  FaultKind // 0, FaultStatus, FaultDrop, FaultAuth or FaultLoseResponse
	code  int
}

func (fs *faultSet) add(f Fault) FaultID {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextID++
	remaining := f.Count
	if remaining <= 0 {
		remaining = -1
	}
	fs.faults = append(fs.faults, &activeFault{id: fs.nextID, f: f, remaining: remaining})
	return fs.nextID
}

func (fs *faultSet) remove(id FaultID) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = slices.DeleteFunc(fs.faults, func(a *activeFault) bool { return a.id == id })
}

func (fs *faultSet) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = nil
}

func (fs *faultSet) hits(id FaultID) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, a := range fs.faults {
		if a.id == id {
			return a.hits
		}
	}
	return 0
}

// decide picks the faults that fire for a request: every matching latency
// fault, and the first matching fault of any other kind, in the order they
// were added.
func (fs *faultSet) decide(method, object string) action {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var act action
	for _, a := range fs.faults {
		f := a.f
		if a.remaining == 0 ||
			f.Method != "" && !strings.EqualFold(f.Method, method) ||
			f.Object != "" && f.Object != object ||
			f.Kind != FaultLatency && act.kind != 0 {
			continue
		}
		if f.Probability > 0 && f.Probability < 1 && fs.rnd.Float64() >= f.Probability {
			continue
		}
		if a.remaining > 0 {
			a.remaining--
		}
		a.hits++
		if f.Kind == FaultLatency {
			act.delay += f.Delay
			continue
		}
		act.kind, act.code = f.Kind, f.Status
		if act.code == 0 {
			act.code = http.StatusServiceUnavailable
		}
	}
	return act
}

// AddFault injects a fault and returns its id.
func (s *Server) AddFault(f Fault) FaultID { return s.faults.add(f) }

// RemoveFault removes an injected fault.
func (s *Server) RemoveFault(id FaultID) { s.faults.remove(id) }

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() { s.faults.clear() }

// FaultHits reports how many requests a fault has fired for.
func (s *Server) FaultHits(id FaultID) int { return s.faults.hits(id) }
