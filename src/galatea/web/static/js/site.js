// Small page helpers. Everything works without them; they only make forms friendlier.
"use strict";

// Ask before a destructive form is sent: <form data-confirm="Delete this?">.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (!target) return;

  // "Add another greeting": clone the template next to the button.
  const adder = target.closest("[data-add-from]");
  if (adder) {
    event.preventDefault();
    const template = document.getElementById(adder.dataset.addFrom);
    const list = document.getElementById(adder.dataset.addTo);
    if (template instanceof HTMLTemplateElement && list) {
      const copy = template.content.cloneNode(true);
      list.appendChild(copy);
      const fields = list.querySelectorAll("textarea");
      if (fields.length) fields[fields.length - 1].focus();
    }
    return;
  }

  // Remove one item of a repeated field.
  const remover = target.closest("[data-remove-item]");
  if (remover) {
    event.preventDefault();
    const item = remover.closest(".repeat-item");
    if (item) item.remove();
    return;
  }

  // Copy a secret shown once (an API token) to the clipboard.
  const copier = target.closest("[data-copy]");
  if (copier) {
    const source = document.getElementById(copier.dataset.copy);
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim()).then(() => {
        copier.textContent = "Copied";
      });
    }
  }
});
