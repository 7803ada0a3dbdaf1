import logging

from emofusion.data.face_tracker import extract_face_file
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    # the face LLD file of one recording; the share of faceless frames goes to the job's log
    log = logging.getLogger("emofusion.video")
    vf = extract_face_file(snakemake.input.video, snakemake.output.csv, warn=log.warning)
    log.info("%s: %d frames, %.1f%% without a face; %d full-frame and %d region detections", snakemake.input.video,
             vf.times.size, 100 * vf.faceless_share, vf.full_detections, vf.roi_detections)
