package testenv

import (
	"os"
	"testing"
)

// TestMain reports the integration tests skipped for want of a server (Main).
func TestMain(m *testing.M) { os.Exit(Main(m)) }
