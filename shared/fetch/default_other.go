//go:build !js

package fetch

import "net/http"

// Default is http.DefaultClient.
func Default() Doer { return http.DefaultClient }
