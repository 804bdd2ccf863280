package receiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestDeliveryResponseJSON checks that the hand-written answer is byte for byte what c.JSON wrote.
func TestDeliveryResponseJSON(t *testing.T) {
	for _, r := range []deliveryResponse{
		{Status: "ok"},
		{Status: "ok", IncidentID: "20261123-highlatency-9f86d081", Opened: true, Appended: 1},
		{Status: "ok", IncidentID: "a<b>&\"\\\u2028\xff\n", Resolved: true, Appended: 200, Duplicates: -3},
		{Status: "ignored", Duplicates: 1 << 40},
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(r); err != nil {
			t.Fatal(err)
		}
		if got := r.appendJSON(nil); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("appendJSON = %q, json.Encoder wrote %q", got, want.Bytes())
		}
		for _, target := range []string{"/webhook/alertmanager", "/webhook/alertmanager?pretty"} {
			rec, viaJSON := httptest.NewRecorder(), httptest.NewRecorder()
			e := echo.New()
			if err := respond(e.NewContext(httptest.NewRequest(http.MethodPost, target, nil), rec), r); err != nil {
				t.Fatal(err)
			}
			if err := e.NewContext(httptest.NewRequest(http.MethodPost, target, nil), viaJSON).JSON(http.StatusOK, r); err != nil {
				t.Fatal(err)
			}
			if rec.Body.String() != viaJSON.Body.String() || rec.Header().Get("Content-Type") != viaJSON.Header().Get("Content-Type") || rec.Code != viaJSON.Code {
				t.Errorf("%s: respond wrote %d %q %q, c.JSON %d %q %q", target, rec.Code, rec.Header().Get("Content-Type"), rec.Body,
					viaJSON.Code, viaJSON.Header().Get("Content-Type"), viaJSON.Body)
			}
		}
	}
}
