/**
 * The dashboard's running of a campaign: buttons to open, pause, resume or close
 * it (the moves the server allows, rendered by the page), and its readers, taken
 * out or added. Each change is made through the API; the page is then shown
 * again as the server now has it.
 */

import { api, gettext, interpolate } from "./dom.js";

/** Wire the status buttons of `box` for campaign `campaignId`. */
export function wireStatus(box, campaignId) {
  if (!box) return;
  box.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-status]");
    if (!button) return;
    const message = box.querySelector("#status-message");
    for (const other of box.querySelectorAll("button")) other.disabled = true;
    try {
      await api(`/api/campaigns/${campaignId}/status/`, { method: "POST", body: { status: button.dataset.status } });
      window.location.reload();
    } catch (error) {
      message.textContent = interpolate(gettext("Not changed: %(reason)s"), { reason: error.message });
      for (const other of box.querySelectorAll("button")) other.disabled = false;
    }
  });
}

/** Wire the readers part (`section`): take a reader out, add one. */
export function wireMembers(section, campaignId) {
  if (!section) return;
  const message = section.querySelector("#members-message");
  async function change(body) {
    for (const button of section.querySelectorAll("button")) button.disabled = true;
    try {
      await api(`/api/campaigns/${campaignId}/readers/`, { method: "POST", body });
      window.location.reload();
    } catch (error) {
      message.textContent = interpolate(gettext("Not changed: %(reason)s"), { reason: error.message });
      for (const button of section.querySelectorAll("button")) button.disabled = false;
    }
  }
  section.addEventListener("click", (event) => {
    const out = event.target.closest("button[data-remove]");
    if (out) change({ remove: [out.dataset.remove] });
    if (event.target.closest("#member-add")) change({ add: [section.querySelector("#member-new").value] });
  });
}
