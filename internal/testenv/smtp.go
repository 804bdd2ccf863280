package testenv

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTPPythonEnv names the environment variable that, when set, is the path
// of the Python 3 interpreter (with the aiosmtpd module) that runs the test
// SMTP server.
const SMTPPythonEnv = "POSTMORTEMD_TEST_PYTHON"

const (
	smtpReadyTimeout = 20 * time.Second
	smtpStopGrace    = 5 * time.Second
	smtpStartRetries = 3

	// SMTPRejectDomain is a recipient domain the test SMTP server rejects
	// permanently at RCPT TO (550 5.1.1).
	SMTPRejectDomain = "reject.test"
	// SMTPTempFailDomain is a recipient domain the test SMTP server rejects
	// temporarily at RCPT TO (451 4.2.1).
	SMTPTempFailDomain = "tempfail.test"
)

// smtpServerScript is the SMTP server: aiosmtpd (the asyncio SMTP server of
// the Python aio-libs project, RFC 5321 with STARTTLS and AUTH) with a
// handler that stores every accepted message byte for byte as it came off
// the wire, with its envelope, in one JSON file per message.
const smtpServerScript = `
import argparse, asyncio, base64, json, os, signal, ssl
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument('--port', type=int, required=True)
p.add_argument('--dir', required=True)
p.add_argument('--user')
p.add_argument('--password')
p.add_argument('--tlscert')
p.add_argument('--tlskey')
p.add_argument('--require-starttls', action='store_true')
a = p.parse_args()

class Handler:
    def __init__(self):
        self.n = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        domain = address.rpartition('@')[2].lower()
        if domain == '` + SMTPRejectDomain + `':
            return '550 5.1.1 <%s>: recipient address rejected' % address
        if domain == '` + SMTPTempFailDomain + `':
            return '451 4.2.1 <%s>: mailbox busy, try again later' % address
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        rec = {
            'mail_from': envelope.mail_from,
            'rcpt_tos': envelope.rcpt_tos,
            'tls': session.ssl is not None,
            'authenticated': bool(session.authenticated),
            'data': base64.b64encode(envelope.original_content).decode(),
        }
        tmp = os.path.join(a.dir, '.%06d.tmp' % self.n)
        with open(tmp, 'w') as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(a.dir, '%06d.json' % self.n))
        return '250 2.0.0 OK: queued'

def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == a.user
          and auth_data.password.decode() == a.password)
    return AuthResult(success=ok, handled=False)

async def main():
    loop = asyncio.get_running_loop()
    kw = {'hostname': 'postmortemd-test-smtp'}
    if a.tlscert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tlscert, a.tlskey)
        kw.update(tls_context=ctx, require_starttls=a.require_starttls)
    if a.user:
        kw.update(authenticator=authenticate, auth_required=True, auth_require_tls=False)
    handler = Handler()
    server = await loop.create_server(lambda: SMTP(handler, **kw), '127.0.0.1', a.port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()

asyncio.run(main())
`

// SMTPConfig configures StartSMTP. The zero value is a plain SMTP server
// without STARTTLS that accepts mail without authentication.
type SMTPConfig struct {
	// Username and Password, when Username is set, make the server
	// advertise AUTH PLAIN and LOGIN (also without TLS) and refuse mail
	// until the client has authenticated with them.
	Username, Password string
	// StartTLS makes the server offer STARTTLS with a self-signed
	// certificate for 127.0.0.1; SMTP.RootCAs trusts it.
	StartTLS bool
	// RequireStartTLS makes the server refuse every command but EHLO,
	// STARTTLS and QUIT before STARTTLS. It implies StartTLS.
	RequireStartTLS bool
}

// SMTP is an SMTP server process for one test that stores every message it
// accepts. Recipients in SMTPRejectDomain are rejected with 550 and those
// in SMTPTempFailDomain with 451.
type SMTP struct {
	tb      testing.TB
	addr    string
	dir     string
	rootCAs *x509.CertPool
	proc    *process
}

// ReceivedMail is one message the SMTP server accepted.
type ReceivedMail struct {
	// MailFrom is the envelope sender (MAIL FROM).
	MailFrom string `json:"mail_from"`
	// RcptTo are the accepted envelope recipients (RCPT TO).
	RcptTo []string `json:"rcpt_tos"`
	// TLS reports whether the message came over a STARTTLS connection.
	TLS bool `json:"tls"`
	// Authenticated reports whether the client had authenticated.
	Authenticated bool `json:"authenticated"`
	// Data is the message as the client sent it after DATA, with CRLF line
	// ends and without the final dot.
	Data []byte `json:"-"`
}

// StartSMTP starts a real SMTP server, aiosmtpd run by Python 3, on a free
// port on 127.0.0.1 and waits until it greets with 220. Messages are stored
// under tb.TempDir and read with Messages.
//
// It runs the interpreter named by POSTMORTEMD_TEST_PYTHON, or /usr/bin/python3
// (python3 from PATH if that is missing), which must be able to import
// aiosmtpd. When it cannot, the test is skipped, or failed if CI is "true".
// A cleanup function stops the server and, if the test failed, writes its
// output to the test log.
func StartSMTP(tb testing.TB, cfg SMTPConfig) *SMTP {
	tb.Helper()
	python := binary(tb, SMTPPythonEnv, []string{"/usr/bin/python3", "python3"}, nil,
		"python3 with aiosmtpd", "apt-get install python3-aiosmtpd, or set "+SMTPPythonEnv)
	if err := hasAiosmtpd(python); err != nil {
		missingBinary(tb, "the Python module aiosmtpd ("+python+": "+err.Error()+")",
			"apt-get install python3-aiosmtpd, or set "+SMTPPythonEnv)
		return nil
	}

	dir := tb.TempDir()
	script := filepath.Join(dir, "smtpd.py")
	if err := os.WriteFile(script, []byte(smtpServerScript), 0o600); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	mailDir := filepath.Join(dir, "mail")
	if err := os.Mkdir(mailDir, 0o700); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	s := &SMTP{tb: tb, dir: mailDir}
	var tlsArgs []string
	if cfg.StartTLS || cfg.RequireStartTLS {
		cert, key, pool, err := selfSignedCert(dir)
		if err != nil {
			tb.Fatalf("testenv: make a certificate for the SMTP server: %v", err)
		}
		s.rootCAs = pool
		tlsArgs = []string{"--tlscert", cert, "--tlskey", key}
		if cfg.RequireStartTLS {
			tlsArgs = append(tlsArgs, "--require-starttls")
		}
	}
	var authArgs []string
	if cfg.Username != "" {
		authArgs = []string{"--user", cfg.Username, "--password", cfg.Password}
	}

	startOnFreePort(tb, smtpStartRetries, smtpReadyTimeout, smtpStopGrace, func(port int) (*process, func() error) {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.addr = addr
		args := append([]string{"-u", script, "--port", strconv.Itoa(port), "--dir", mailDir}, tlsArgs...)
		s.proc = &process{
			name:    "aiosmtpd",
			path:    python,
			args:    append(args, authArgs...),
			logPath: filepath.Join(dir, fmt.Sprintf("smtpd-%d.log", port)),
		}
		return s.proc, func() error { return smtpGreets(addr) }
	})
	return s
}

// Addr returns the server's host:port address.
func (s *SMTP) Addr() string { return s.addr }

// RootCAs returns a pool that trusts the server's STARTTLS certificate (for
// the name and address 127.0.0.1), or nil when it offers no STARTTLS.
func (s *SMTP) RootCAs() *x509.CertPool { return s.rootCAs }

// Stop stops the server for tests of an SMTP outage. Calling Stop on a
// stopped server does nothing.
func (s *SMTP) Stop() {
	s.tb.Helper()
	s.proc.stop(smtpStopGrace)
}

// Messages returns every message the server has accepted so far, oldest
// first. It fails the test if a stored message cannot be read.
func (s *SMTP) Messages() []ReceivedMail {
	s.tb.Helper()
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		s.tb.Fatalf("testenv: %v", err)
	}
	sort.Strings(names)
	out := make([]ReceivedMail, 0, len(names))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			s.tb.Fatalf("testenv: read received mail: %v", err)
		}
		var rec struct {
			ReceivedMail
			Data string `json:"data"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			s.tb.Fatalf("testenv: decode %s: %v", name, err)
		}
		m := rec.ReceivedMail
		if m.Data, err = base64.StdEncoding.DecodeString(rec.Data); err != nil {
			s.tb.Fatalf("testenv: decode %s: %v", name, err)
		}
		out = append(out, m)
	}
	return out
}

// smtpGreets reports whether an SMTP server at addr sends a 220 greeting.
func smtpGreets(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("greeting %q", strings.TrimSpace(line))
	}
	_, _ = conn.Write([]byte("QUIT\r\n"))
	return nil
}

// selfSignedCert writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files in dir, and returns their paths and a pool trusting it.
func selfSignedCert(dir string) (certPath, keyPath string, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", "", nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certPath = filepath.Join(dir, "smtp-cert.pem")
	keyPath = filepath.Join(dir, "smtp-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool, nil
}

// aiosmtpdChecks caches, per interpreter, whether it can import aiosmtpd.
var aiosmtpdChecks sync.Map // string -> func() error

// hasAiosmtpd reports whether python can import aiosmtpd, asking each
// interpreter once per test binary.
func hasAiosmtpd(python string) error {
	check, _ := aiosmtpdChecks.LoadOrStore(python, sync.OnceValue(func() error {
		return runQuiet(python, "-c", "import aiosmtpd")
	}))
	return check.(func() error)()
}

// runQuiet runs a short command and returns its output in the error when it
// fails.
func runQuiet(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
