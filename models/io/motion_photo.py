"""Google's Motion Photo (format 1.0): one ``…MP.jpg`` file, a JPEG still with an MP4 appended after its end.

The still's XMP says where the video is: the Camera namespace's ``MotionPhoto="1"``, ``MotionPhotoVersion`` and
``MotionPhotoPresentationTimestampUs``, and a Container directory of two items, the primary ``image/jpeg`` (Padding
0) and the ``video/mp4`` whose Length is the MP4's byte count; a reader finds the video from the file's end by those
lengths. The legacy ``MicroVideo*`` tags (removed from the spec, still the only ones older gallery apps read) carry
the same offset. Attributes are double-quoted XML attributes: Android's reader matches them as text.
"""

from __future__ import annotations

import shutil
from typing import BinaryIO

from . import jpeg

NAME_SUFFIX = "MP.jpg"
"""Writers should name the file ``…MP.jpg`` (the spec's pattern); readers may ignore the video of another name."""

_PACKET = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="text2cinemagraph">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"
    xmlns:Container="http://ns.google.com/photos/1.0/container/"
    xmlns:Item="http://ns.google.com/photos/1.0/container/item/"
    GCamera:MotionPhoto="1"
    GCamera:MotionPhotoVersion="1"
    GCamera:MotionPhotoPresentationTimestampUs="{timestamp}"
    GCamera:MicroVideo="1"
    GCamera:MicroVideoVersion="1"
    GCamera:MicroVideoOffset="{length}"
    GCamera:MicroVideoPresentationTimestampUs="{timestamp}">
   <Container:Directory>
    <rdf:Seq>
     <rdf:li rdf:parseType="Resource">
      <Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" Item:Length="0" Item:Padding="0"/>
     </rdf:li>
     <rdf:li rdf:parseType="Resource">
      <Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="{length}" Item:Padding="0"/>
     </rdf:li>
    </rdf:Seq>
   </Container:Directory>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def xmp_packet(video_length: int, timestamp_us: int) -> str:
    """The still's XMP for an appended MP4 of ``video_length`` bytes whose frame at ``timestamp_us`` is the still."""
    return _PACKET.format(length=int(video_length), timestamp=int(timestamp_us))


def write(file: BinaryIO, still: bytes, video: BinaryIO, video_length: int, timestamp_us: int) -> None:
    """The still (a JPEG from :func:`jpeg.encode_still`) with its XMP, then the MP4 ``video`` copied after it."""
    file.write(jpeg.insert_segments(still, jpeg.xmp_segment(xmp_packet(video_length, timestamp_us))))
    shutil.copyfileobj(video, file, 2**20)
