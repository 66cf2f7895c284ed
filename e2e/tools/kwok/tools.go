//go:build tools

// Package kwok pins the kwok binary that plays the kubelets in the e2e test bed.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
