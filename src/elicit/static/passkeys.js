// Elicit Studio: passkeys (WebAuthn). A form marked data-passkey="create" or "get" carries the server's options
// in data-options; on submit this asks the browser for the passkey, puts its answer (JSON) in the form's hidden
// "credential" field and sends the form as usual, so the server answers with a page as for any form.
// Without JavaScript, or in a browser without passkeys, the passkey controls stay hidden and the page says so:
// the authenticator app's codes and the recovery codes need no script.
(function () {
  "use strict";
  var supported = !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);

  function bytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var raw = window.atob(base64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) {
      out[i] = raw.charCodeAt(i);
    }
    return out.buffer;
  }

  function text(buffer) {
    if (!buffer) {
      return null;
    }
    var view = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < view.length; i += 1) {
      raw += String.fromCharCode(view[i]);
    }
    return window.btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      var copy = Object.assign({}, item);
      copy.id = bytes(item.id);
      return copy;
    });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = bytes(json.challenge);
    options.user = Object.assign({}, json.user, { id: bytes(json.user.id) });
    options.excludeCredentials = withIds(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = bytes(json.challenge);
    options.allowCredentials = withIds(json.allowCredentials);
    return options;
  }

  function answer(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: text(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = text(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = text(response.authenticatorData);
      out.response.signature = text(response.signature);
      out.response.userHandle = text(response.userHandle);
    }
    return out;
  }

  function show(selector, visible) {
    var nodes = document.querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i += 1) {
      nodes[i].hidden = !visible;
    }
  }

  if (!supported) {
    return; // the data-without-passkeys notes stay, the passkey controls stay hidden
  }
  show("[data-needs-passkeys]", true);
  show("[data-without-passkeys]", false);

  var forms = document.querySelectorAll("form[data-passkey]");
  for (var f = 0; f < forms.length; f += 1) {
    (function (form) {
      form.hidden = false;
      var failed = form.querySelector("[data-passkey-failed]");
      var busy = false;
      form.addEventListener("submit", function (event) {
        var creating = form.getAttribute("data-passkey") === "create";
        if (creating && (!form.elements.name.value.trim() || !form.elements.current.value)) {
          return; // sent as it is: the server says what is missing, and no passkey is made for nothing
        }
        event.preventDefault();
        if (busy) {
          return;
        }
        busy = true;
        if (failed) {
          failed.hidden = true;
        }
        var json = JSON.parse(form.getAttribute("data-options"));
        var asked = creating
          ? navigator.credentials.create({ publicKey: creationOptions(json) })
          : navigator.credentials.get({ publicKey: requestOptions(json) });
        asked.then(function (credential) {
          form.elements.credential.value = JSON.stringify(answer(credential));
          form.submit();
        }).catch(function () {
          busy = false;
          if (failed) {
            failed.hidden = false;
            failed.setAttribute("tabindex", "-1");
            failed.focus();
          }
        });
      });
    })(forms[f]);
  }
})();
