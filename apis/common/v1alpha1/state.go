package v1alpha1

// A Shortfall says a request for addresses cannot be met: the space has
// fewer free addresses than requested. Nothing is held for the request
// while it stands, and the provider keeps retrying it. Compositions read
// these numbers rather than the Synced condition's message, which is for
// people.
type Shortfall struct {
	// Requested is how many addresses were asked for.
	Requested int64 `json:"requested"`
	// Usable is how many addresses of the space may be handed out at all
	// (not network, broadcast or gateway), when the backend tells.
	// +optional
	Usable *int64 `json:"usable,omitempty"`
	// Held is how many of the usable addresses are already held, when the
	// backend tells.
	// +optional
	Held *int64 `json:"held,omitempty"`
	// Free is how many addresses could be handed out: fewer than requested.
	Free int64 `json:"free"`
}

// A Conflict says an address asked for is held by someone else, so the
// request cannot be met until that holder lets it go. The holder is not
// published: it may be in another namespace. The Synced condition's message
// names it only when it is in the requester's own namespace.
type Conflict struct {
	// Address refused, when the backend names it (Infoblox may refuse a
	// host name or MAC address instead).
	// +optional
	Address string `json:"address,omitempty"`
}
