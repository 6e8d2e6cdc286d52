// opcenter Operation Center: what every page shares. window.OC holds the prefix, the CSRF
// token, the language and the scripts' messages (OC.messages, keys "js.*").
(function () {
  "use strict";
  const OC = window.OC;
  OC.t = function (key, values) {
    let text = OC.messages["js." + key] || key;
    for (const [k, v] of Object.entries(values || {})) text = text.split("{" + k + "}").join(String(v));
    return text;
  };
  // A request of the page's scripts: JSON both ways, the CSRF token on every POST. Resolves
  // with the body; rejects with {Code, Message} (a signed-out session goes to the sign-in form).
  OC.request = async function (method, path, body) {
    const headers = {"Accept": "application/json"};
    if (method !== "GET") { headers["X-CSRF-Token"] = OC.csrf; headers["Content-Type"] = "application/json"; }
    const response = await fetch(OC.prefix + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({Code: "InternalError", Message: response.statusText}));
    if (response.status === 401) {
      window.location = OC.prefix + "/signin?next=" + encodeURIComponent(location.pathname + location.search);
    }
    if (!response.ok) throw data;
    return data;
  };
  OC.escape = function (text) {
    return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  };
  OC.when = function (ms) {
    if (!ms) return "";
    const d = new Date(ms), p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  };
})();
