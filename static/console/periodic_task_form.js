// django-celery-beat's crontab help ("Translation: every minute"), as its template's inline script did,
// from a static file: the admin's Content-Security-Policy allows scripts from 'self' only.
(function () {
  "use strict";
  var $ = window.django && window.django.jQuery;
  var data = document.getElementById("readable-crontabs");
  if (!$ || !data) {
    return;
  }
  var readable = JSON.parse(data.textContent);
  var help = $(".field-crontab .help");
  var original = help.text().trim();
  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    var translation = readable[$("#id_crontab").val()] || "";
    help.text(original).append("<br>").append(document.createTextNode("Translation: " + translation));
  });
})();
