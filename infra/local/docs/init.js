// Swagger UI on this server's own document; no CDN, no inline script.
window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  docExpansion: "list",
  persistAuthorization: true,
});
