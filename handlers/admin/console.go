package admin

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

// consoleFiles is the staff console: plain HTML, CSS and JavaScript with
// no build step and nothing fetched from the internet, so it works on a
// shop's intranet. It holds no data; every figure comes from the API with
// the token the person signs in with.
//
//go:embed console
var consoleFiles embed.FS

// consoleCSP allows only siyu's own files: no inline script, no CDN.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// registerConsole serves the console at /admin/. The page loads without
// a token; it asks for one and keeps it in sessionStorage.
func (h *Handler) registerConsole(g *echo.Group) {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embedded folder exists: a build without it does not compile
	}
	serve := func(c echo.Context) error {
		name := strings.TrimPrefix(c.Param("*"), "/")
		if name == "" {
			name = "index.html"
		}
		data, err := fs.ReadFile(sub, name)
		if err != nil {
			return echo.NewHTTPError(http.StatusNotFound, "not found")
		}
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", consoleCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		// Small files and a console staff expect to be current after an
		// upgrade: revalidate each time.
		hd.Set("Cache-Control", "no-cache")
		ctype := "application/octet-stream"
		switch path.Ext(name) {
		case ".html":
			ctype = "text/html; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		return c.Blob(http.StatusOK, ctype, data)
	}
	g.GET("/admin", func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, c.Request().URL.Path+"/")
	})
	g.GET("/admin/", serve)
	g.GET("/admin/ui/*", serve)
	// Browsers ask the site's root for an icon whatever the page says;
	// answer with the console's, not a 404 in every log.
	g.GET("/favicon.ico", func(c echo.Context) error {
		data, err := fs.ReadFile(sub, "favicon.svg")
		if err != nil {
			return echo.NewHTTPError(http.StatusNotFound, "not found")
		}
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		c.Response().Header().Set("X-Content-Type-Options", "nosniff")
		return c.Blob(http.StatusOK, "image/svg+xml", data)
	})
}
