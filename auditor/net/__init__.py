"""The only code that touches the network: DNS, TLS, SMTP, HTTP, geolocation."""
