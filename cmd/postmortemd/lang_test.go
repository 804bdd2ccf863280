package main

import (
	"bytes"
	"strings"
	"testing"
)

// --ui-lang pins the pages' language; empty (the default) follows each browser.
func TestUILangSetting(t *testing.T) {
	file := writeFile(t, "c.yml", "ui_lang: ja\n")
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default follows the browser", nil, nil, ""},
		{"flag", []string{"--ui-lang", "ja"}, nil, "ja"},
		{"environment", nil, map[string]string{"POSTMORTEMD_UI_LANG": "en"}, "en"},
		{"file", []string{"--config", file}, nil, "ja"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, env(tt.env), &bytes.Buffer{})
			if err != nil || cfg.UILang != tt.want {
				t.Fatalf("%v: ui-lang %q, want %q", err, cfg.UILang, tt.want)
			}
		})
	}
	_, err := loadConfig([]string{"--ui-lang", "fr"}, env(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `ui-lang: want one of en, ja, or empty to follow Accept-Language, got "fr"`) {
		t.Fatalf("error %v", err)
	}
}
