"""The registry client: the OCI distribution protocol, its authentication, its configuration.

* :mod:`.protocol`: the sans-IO core (requests as data, answers read by pure functions);
* :mod:`.auth`: ``WWW-Authenticate`` challenges, Bearer tokens, Basic auth;
* :mod:`.config`: mirrors, insecure registries, certs.d CA certificates -> endpoints;
* :mod:`.credentials`: docker-compatible ``config.json``;
* :mod:`.transport`: HTTP/1.1 framed by :mod:`.http11` (strict, checked against h11): keep-alive
  connections per origin, TLS with certs.d CAs, proxies from the environment (:mod:`.proxy`);
* :mod:`.client`: the I/O adapter: endpoints, auth, redirects, retries, resumable downloads
  and uploads.
"""
