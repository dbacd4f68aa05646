package addressing

import "fmt"

// Reasons an input is invalid. They are stable: conditions and events carry
// them so that a platform engineer can alert on one.
const (
	ReasonInvalidAddress  = "InvalidAddress"
	ReasonInvalidCIDR     = "InvalidCIDR"
	ReasonInvalidRange    = "InvalidRange"
	ReasonInvalidPrefix   = "InvalidPrefix"
	ReasonInvalidGateway  = "InvalidGateway"
	ReasonMixedFamilies   = "MixedFamilies"
	ReasonDuplicate       = "DuplicateAddress"
	ReasonAmbiguousSpace  = "AmbiguousSpace"
	ReasonOutsideNetwork  = "OutsideNetwork"
	ReasonEmptySpace      = "EmptySpace"
	ReasonSpaceExhausted  = "SpaceExhausted"
	ReasonAddressReserved = "AddressReserved"
)

// InvalidError says which input is wrong and why.
type InvalidError struct {
	Reason string // one of the Reason constants
	Field  string // the input's name, e.g. "cidr" or "ipAddresses[2]"
	Value  string
	Detail string
}

func (e *InvalidError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Detail)
	}
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Detail)
}

func invalid(reason, field, value, format string, args ...any) *InvalidError {
	return &InvalidError{Reason: reason, Field: field, Value: value, Detail: fmt.Sprintf(format, args...)}
}

// ExhaustedError says a space cannot satisfy a request, with the numbers a
// platform engineer needs to size it.
type ExhaustedError struct {
	Space     string
	Usable    uint64 // addresses that may be handed out at all
	Held      uint64 // of those, already held
	Requested uint64
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("not enough free addresses in %s: %d requested, %d usable, %d already held, %d free",
		e.Space, e.Requested, e.Usable, e.Held, e.Usable-min(e.Held, e.Usable))
}
