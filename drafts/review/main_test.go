package review

import (
	"os"
	"testing"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// TestMain reports the integration tests skipped for want of a server (testenv.Main).
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
