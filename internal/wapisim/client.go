package wapisim

import ibclient "github.com/infobloxopen/infoblox-go-client/v2"

// ClientConfig is what ibclient.NewConnector needs to reach a started
// server: the host and version, the configured credentials and a transport
// that trusts the server's CA (or plain HTTP).
type ClientConfig struct {
	Host      ibclient.HostConfig
	Auth      ibclient.AuthConfig
	Transport ibclient.TransportConfig
}

// ClientConfig returns the configuration of a client for this server, with
// a 10 second request timeout.
func (s *Server) ClientConfig() ClientConfig {
	scheme, verify := "https", s.caFile
	if s.cfg.PlainHTTP {
		scheme, verify = "http", "false"
	}
	return ClientConfig{
		Host: ibclient.HostConfig{Scheme: scheme, Host: s.Host(), Port: s.Port(), Version: s.cfg.Version},
		Auth: ibclient.AuthConfig{Username: s.cfg.Username, Password: s.cfg.Password},
		// The CA can only be handed to the client as a file path.
		Transport: ibclient.NewTransportConfig(verify, 10, 10),
	}
}

// NewConnector returns a real ibclient connector for this server.
func (s *Server) NewConnector() (*ibclient.Connector, error) {
	c := s.ClientConfig()
	return ibclient.NewConnector(c.Host, c.Auth, c.Transport, &ibclient.WapiRequestBuilder{}, &ibclient.WapiHttpRequestor{})
}
